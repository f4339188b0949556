package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestKinds(t *testing.T) {
	own := New(ErrNotFound, "image not found")
	cases := []struct {
		name string
		err  error
		kind error
		msg  string
	}{
		{"plain", errors.New("boom"), nil, "boom"},
		{"kind itself", ErrExists, ErrExists, "already exists"},
		{"wrapped kind", fmt.Errorf("instance %q: %w", "c1", ErrNotFound), ErrNotFound, `instance "c1": not found`},
		{"formatted", Invalidf("device %q: bad", "eth0"), ErrInvalid, `device "eth0": bad`},
		{"own sentinel", fmt.Errorf("image abc: %w", own), ErrNotFound, "image abc: image not found"},
		{"outermost wins", Invalidf("device %q: %w", "d", own), ErrInvalid, `device "d": image not found`},
		{"wrap keeps message", Wrap(ErrUnavailable, errors.New("dial: refused")), ErrUnavailable, "dial: refused"},
		{"joined", errors.Join(errors.New("a"), Conflictf("b")), ErrConflict, "a\nb"},
	}
	for _, c := range cases {
		if got := KindOf(c.err); got != c.kind {
			t.Errorf("%s: KindOf = %v, want %v", c.name, got, c.kind)
		}
		if c.err.Error() != c.msg {
			t.Errorf("%s: message %q, want %q", c.name, c.err.Error(), c.msg)
		}
		if c.kind != nil && !errors.Is(c.err, c.kind) {
			t.Errorf("%s: errors.Is(err, %v) is false", c.name, c.kind)
		}
	}
	// A package's sentinel is its own: another of the same kind is not it.
	if errors.Is(New(ErrNotFound, "x"), own) || !errors.Is(fmt.Errorf("w: %w", own), own) {
		t.Error("sentinels made by New must be told apart by errors.Is")
	}
	// What an error wraps stays reachable.
	inner := errors.New("inner")
	if !errors.Is(Invalidf("outer: %w", inner), inner) {
		t.Error("Invalidf must wrap its %w argument")
	}
	if Wrap(ErrInvalid, nil) != nil {
		t.Error("Wrap(nil) must be nil")
	}
}
