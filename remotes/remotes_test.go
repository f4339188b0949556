package remotes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

func sum(b ...[]byte) string {
	h := sha256.New()
	for _, x := range b {
		h.Write(x)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readAll(v *Verifier, parts ...[]byte) error {
	for i, p := range parts {
		if _, err := io.Copy(io.Discard, v.Wrap(i, bytes.NewReader(p))); err != nil {
			return err
		}
	}
	return nil
}

func TestVerifier(t *testing.T) {
	meta, root := []byte("metadata tarball"), []byte("rootfs squashfs bytes")
	good := Image{Fingerprint: sum(meta, root), Files: []File{
		{Role: "metadata", Path: "m", Size: int64(len(meta)), SHA256: sum(meta)},
		{Role: "rootfs", Path: "r", Size: int64(len(root)), SHA256: sum(root)},
	}}
	var last int64
	if err := readAll(NewVerifier(good, func(d, total int64) { last = d }), meta, root); err != nil {
		t.Fatal(err)
	}
	if last != int64(len(meta)+len(root)) {
		t.Errorf("progress ended at %d", last)
	}
	// A tampered rootfs: the fingerprint check names both hashes.
	bad := append([]byte{}, root...)
	bad[0] ^= 1
	err := readAll(NewVerifier(good, nil), meta, bad)
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), good.Fingerprint) || !strings.Contains(err.Error(), sum(meta, bad)) {
		t.Errorf("tampered: %v", err)
	}
	// A tampered metadata part fails at its own end, naming its hashes.
	badMeta := append([]byte{}, meta...)
	badMeta[0] ^= 1
	err = readAll(NewVerifier(good, nil), badMeta, root)
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), sum(meta)) || !strings.Contains(err.Error(), sum(badMeta)) || !strings.Contains(err.Error(), "m:") {
		t.Errorf("tampered metadata: %v", err)
	}
	// With the consumer checking the fingerprint, a bad rootfs passes the verifier (sizes still checked).
	v := NewVerifier(good, nil)
	v.FingerprintCheckedByConsumer()
	if err := readAll(v, meta, bad); err != nil {
		t.Errorf("consumer-checked: %v", err)
	}
	// Truncated.
	err = readAll(NewVerifier(good, nil), meta, root[:5])
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated: %v", err)
	}
	// Both files match their own sums but not the fingerprint (a swapped pair).
	wrongFP := good
	wrongFP.Fingerprint = sum(root, meta)
	err = readAll(NewVerifier(wrongFP, nil), meta, root)
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), wrongFP.Fingerprint) || !strings.Contains(err.Error(), good.Fingerprint) {
		t.Errorf("fingerprint: %v", err)
	}
	// Too long.
	err = readAll(NewVerifier(good, nil), meta, append(root, 'x'))
	if !errors.Is(err, ErrIntegrity) {
		t.Errorf("too long: %v", err)
	}
}

func TestMatchFingerprint(t *testing.T) {
	list := []Image{{Fingerprint: "abc1" + strings.Repeat("0", 60)}, {Fingerprint: "abc2" + strings.Repeat("0", 60)}}
	if _, _, err := MatchFingerprint(list, "abc"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous: %v", err)
	}
	if im, ok, err := MatchFingerprint(list, "ABC2"); !ok || err != nil || im.Fingerprint != list[1].Fingerprint {
		t.Errorf("unique: %v %v", ok, err)
	}
	if _, ok, _ := MatchFingerprint(list, "debian/12"); ok {
		t.Error("an alias matched as a fingerprint")
	}
}
