package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Defaults for Config's lifetimes and bounds.
const (
	DefaultTokenTTL       = 5 * time.Minute
	DefaultSessionTTL     = 12 * time.Hour
	DefaultSessionIdleTTL = 2 * time.Hour
	maxTokens             = 64
	maxSessions           = 256
)

// ErrTokenInvalid is every reason a login token is refused (unknown, used,
// expired): the caller learns no more than that.
var ErrTokenInvalid = errors.New("this login link is not valid: it was already used or has expired; run `lodge ui` on the server for a new one")

// store holds login tokens and sessions in memory, keyed by the SHA-256 of
// the secret, so that neither secret is kept (or can leak from a dump of
// the maps) in a form that logs a browser in. Sessions end with lodged.
type store struct {
	mu       sync.Mutex
	now      func() time.Time
	tokenTTL time.Duration
	absTTL   time.Duration
	idleTTL  time.Duration
	tokens   map[[32]byte]time.Time // hash -> expiry
	sessions map[[32]byte]*session
}

type session struct {
	csrf     string
	created  time.Time
	lastSeen time.Time
}

func newStore(now func() time.Time, tokenTTL, absTTL, idleTTL time.Duration) *store {
	return &store{now: now, tokenTTL: tokenTTL, absTTL: absTTL, idleTTL: idleTTL,
		tokens: map[[32]byte]time.Time{}, sessions: map[[32]byte]*session{}}
}

func randomSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("ui: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// issueToken makes a single-use login token valid for tokenTTL.
func (s *store) issueToken() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneLocked(now)
	// Bounded: the oldest outstanding token goes first.
	for len(s.tokens) >= maxTokens {
		var oldest [32]byte
		var at time.Time
		for h, exp := range s.tokens {
			if at.IsZero() || exp.Before(at) {
				oldest, at = h, exp
			}
		}
		delete(s.tokens, oldest)
	}
	tok := randomSecret()
	exp := now.Add(s.tokenTTL)
	s.tokens[hashOf(tok)] = exp
	return tok, exp
}

// redeem turns a login token into a session: the token is gone whatever
// the outcome, so a second use fails.
func (s *store) redeem(tok string) (id, csrf string, err error) {
	if len(tok) == 0 || len(tok) > 128 {
		return "", "", ErrTokenInvalid
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	h := hashOf(tok)
	exp, ok := s.tokens[h]
	delete(s.tokens, h)
	if !ok || !now.Before(exp) {
		return "", "", ErrTokenInvalid
	}
	s.pruneLocked(now)
	for len(s.sessions) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, se := range s.sessions {
			if at.IsZero() || se.lastSeen.Before(at) {
				oldest, at = k, se.lastSeen
			}
		}
		delete(s.sessions, oldest)
	}
	id, csrf = randomSecret(), randomSecret()
	s.sessions[hashOf(id)] = &session{csrf: csrf, created: now, lastSeen: now}
	return id, csrf, nil
}

// lookup finds a live session and marks it used; ok is false for an
// unknown, idle or too old one.
func (s *store) lookup(id string) (csrf string, expires time.Time, ok bool) {
	if id == "" || len(id) > 128 {
		return "", time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	h := hashOf(id)
	se, ok := s.sessions[h]
	if !ok {
		return "", time.Time{}, false
	}
	if s.expiredLocked(se, now) {
		delete(s.sessions, h)
		return "", time.Time{}, false
	}
	se.lastSeen = now
	return se.csrf, se.created.Add(s.absTTL), true
}

func (s *store) end(id string) {
	s.mu.Lock()
	delete(s.sessions, hashOf(id))
	s.mu.Unlock()
}

func (s *store) expiredLocked(se *session, now time.Time) bool {
	return !now.Before(se.created.Add(s.absTTL)) || !now.Before(se.lastSeen.Add(s.idleTTL))
}

func (s *store) pruneLocked(now time.Time) {
	for h, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, h)
		}
	}
	for h, se := range s.sessions {
		if s.expiredLocked(se, now) {
			delete(s.sessions, h)
		}
	}
}

func (s *store) counts() (tokens, sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens), len(s.sessions)
}

func equalSecret(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
