package api

import "time"

// UILoginToken is POST /internal/ui/login-token's reply (`lodge ui`): a
// single-use link that logs a browser into the web UI. The token is a
// secret until used: print it for the user, never log it.
type UILoginToken struct {
	// URL is https://HOST:PORT/ui/?login=TOKEN.
	URL       string    `json:"url" yaml:"url"`
	Token     string    `json:"token" yaml:"token"`
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
}
