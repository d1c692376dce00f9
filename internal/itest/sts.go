package itest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// STS is an STS endpoint over the real query protocol that grants
// AssumeRole to every role except those listed as refused, and records each
// call's form.
type STS struct {
	URL     string
	Refused []string

	mu    sync.Mutex
	calls []url.Values
}

// StartSTS serves an STS endpoint until the test ends.
func StartSTS(t testing.TB, refused ...string) *STS {
	t.Helper()
	s := &STS{Refused: refused}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Calls returns the forms of the AssumeRole calls received.
func (s *STS) Calls() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ServeHTTP answers AssumeRole.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, r.PostForm)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if slices.Contains(s.Refused, r.PostForm.Get("RoleArn")) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>r</RequestId></ErrorResponse>`))
		return
	}
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	_, _ = w.Write([]byte(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>` +
		`<AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken>` +
		`<Expiration>` + exp + `</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>` +
		`<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></AssumeRoleResponse>`))
}
