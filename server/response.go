package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"syscall"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/operations"
)

// statusOf is the one place where errors become HTTP statuses: by their
// kind (lodge/errdefs), the outermost one in the chain.
func statusOf(err error) int {
	switch errdefs.KindOf(err) {
	case errdefs.ErrNotFound:
		return http.StatusNotFound
	case errdefs.ErrExists, errdefs.ErrConflict:
		return http.StatusConflict
	case errdefs.ErrInvalid:
		return http.StatusBadRequest
	case errdefs.ErrPrecondition:
		return http.StatusPreconditionFailed
	case errdefs.ErrForbidden:
		return http.StatusForbidden
	case errdefs.ErrUnavailable:
		// An image server did not answer: lodged is the gateway here.
		return http.StatusBadGateway
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		// The disk (or a quota) is full: not the request's fault, and
		// not a bug either; 507 says which.
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeSync(w http.ResponseWriter, metadata any) {
	writeSyncETag(w, metadata, nil)
}

// writeSyncETag writes a sync reply with an Etag computed over etagOf (LXD's
// clients send it back as If-Match on the PUT that follows a GET).
func writeSyncETag(w http.ResponseWriter, metadata any, etagOf any) {
	if etagOf != nil {
		w.Header().Set("Etag", fmt.Sprintf("%q", etag(etagOf)))
	}
	md, err := json.Marshal(metadata)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Response{Type: api.SyncResponse, Status: api.Success.String(), StatusCode: int(api.Success), Metadata: md})
}

func etag(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func writeAsync(w http.ResponseWriter, op *operations.Op) {
	md, _ := json.Marshal(op.Render())
	w.Header().Set("Location", op.URL())
	writeJSON(w, http.StatusAccepted, api.Response{Type: api.AsyncResponse, Status: api.OperationCreated.String(),
		StatusCode: int(api.OperationCreated), Operation: op.URL(), Metadata: md})
}

func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	writeJSON(w, code, api.Response{Type: api.ErrorResponse, Error: err.Error(), ErrorCode: code, Metadata: json.RawMessage("null")})
}

// decodeBody decodes a JSON request body, refusing unknown trailing data with a clear message.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<20))
	if err := dec.Decode(v); err != nil {
		return errdefs.Invalidf("malformed JSON body: %v", err)
	}
	if dec.More() {
		return errdefs.Invalidf("malformed JSON body: trailing data after the object")
	}
	return nil
}
