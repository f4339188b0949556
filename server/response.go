package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	// The envelope is written around md as it is: encoding it as a
	// json.RawMessage field would check and copy it again, a third of
	// the time of a list of 1,000 instances (2.5 MB).
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(syncPrefix)
	_, _ = w.Write(md)
	_, _ = io.WriteString(w, "}\n")
}

// syncPrefix is a sync reply's envelope up to its metadata, as
// encoding/json writes api.Response.
var syncPrefix = func() []byte {
	b, _ := json.Marshal(api.Response{Type: api.SyncResponse, Status: api.Success.String(), StatusCode: int(api.Success), Metadata: json.RawMessage("null")})
	p, ok := bytes.CutSuffix(b, []byte("null}"))
	if !ok {
		panic("api.Response no longer ends with its metadata: " + string(b))
	}
	return p
}()

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

// response is what a handler answers with; serve writes it.
type response interface {
	write(w http.ResponseWriter)
}

// syncResponse is LXD's sync reply. etagOf, if set, is what the Etag
// header is computed over (LXD's clients send it back as If-Match on the
// PUT that follows a GET); location, if set, is the Location header.
type syncResponse struct {
	metadata any
	etagOf   any
	location string
}

func (r syncResponse) write(w http.ResponseWriter) {
	if r.location != "" {
		w.Header().Set("Location", r.location)
	}
	writeSyncETag(w, r.metadata, r.etagOf)
}

// reply answers metadata.
func reply(metadata any) response { return syncResponse{metadata: metadata} }

// replyETag answers metadata with an Etag over etagOf.
func replyETag(metadata, etagOf any) response {
	return syncResponse{metadata: metadata, etagOf: etagOf}
}

// replyEmpty is the empty sync reply of a change made at once.
func replyEmpty() response { return syncResponse{metadata: map[string]any{}} }

// replyCreated is replyEmpty with the Location of what was made.
func replyCreated(location string) response {
	return syncResponse{metadata: map[string]any{}, location: location}
}

// asyncResponse is LXD's reply for an operation started in the background.
type asyncResponse struct{ op *operations.Op }

func (r asyncResponse) write(w http.ResponseWriter) { writeAsync(w, r.op) }

// replyAsync answers the operation op, started in the background.
func replyAsync(op *operations.Op) response { return asyncResponse{op} }

// stream is a reply a handler writes itself: file contents, exports,
// websocket upgrades.
type stream func(w http.ResponseWriter)

func (f stream) write(w http.ResponseWriter) { f(w) }

// ifMatch is the If-Match check of an update (Update.IfMatch): nil
// without the header, else a check that the stored object still has the
// ETag the client read; what names the object in the error.
func ifMatch[T any](r *http.Request, etagOf func(T) any, what func(T) string) func(any) error {
	m := r.Header.Get("If-Match")
	if m == "" {
		return nil
	}
	return func(cur any) error {
		t := cur.(T)
		if strings.Trim(m, `"`) != etag(etagOf(t)) {
			return errdefs.Preconditionf("%s changed since you read it (ETag mismatch); read it again and retry", what(t))
		}
		return nil
	}
}
