package oidc

import (
	"reflect"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestMapClaims(t *testing.T) {
	const iss, sub = "https://idp.example.com", "u-1"
	tests := []struct {
		name    string
		cfg     Config
		payload string
		want    Claims
		wantErr string
	}{{
		name:    "all claims",
		cfg:     Config{GroupsClaim: "groups"},
		payload: `{"preferred_username":"alice","email":"alice@example.com","email_verified":true,"name":"Alice","groups":["a","b","a",""]}`,
		want:    Claims{Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice", Groups: []string{"a", "b"}},
	}, {
		name:    "username from the email's local part",
		payload: `{"email":"bob@example.com"}`,
		want:    Claims{Username: "bob", Email: "bob@example.com"},
	}, {
		name:    "custom username claim",
		cfg:     Config{UsernameClaim: "login"},
		payload: `{"login":"carol","preferred_username":"ignored"}`,
		want:    Claims{Username: "carol"},
	}, {
		name:    "custom username claim missing: email fallback",
		cfg:     Config{UsernameClaim: "login"},
		payload: `{"preferred_username":"ignored","email":"dan@example.com"}`,
		want:    Claims{Username: "dan", Email: "dan@example.com"},
	}, {
		name:    "groups as one string",
		cfg:     Config{GroupsClaim: "role"},
		payload: `{"preferred_username":"e","role":"ops"}`,
		want:    Claims{Username: "e", Groups: []string{"ops"}},
	}, {
		name:    "groups claim not configured",
		payload: `{"preferred_username":"e","groups":["ops"]}`,
		want:    Claims{Username: "e"},
	}, {
		name:    "groups null",
		cfg:     Config{GroupsClaim: "groups"},
		payload: `{"preferred_username":"e","groups":null}`,
		want:    Claims{Username: "e"},
	}, {
		name:    "email_verified as a string",
		payload: `{"preferred_username":"f","email_verified":"true"}`,
		want:    Claims{Username: "f", EmailVerified: true},
	}, {
		name:    "no username, no email",
		payload: `{"name":"Nobody"}`,
		wantErr: `id token has neither a "preferred_username" claim nor an email`,
	}, {
		name:    "username not a string",
		payload: `{"preferred_username":42}`,
		wantErr: `claim "preferred_username" is a number, want a string`,
	}, {
		name:    "groups an object",
		cfg:     Config{GroupsClaim: "groups"},
		payload: `{"preferred_username":"g","groups":{"a":1}}`,
		wantErr: `groups claim "groups" is a object, want a list of strings or a string`,
	}, {
		name:    "groups with a number",
		cfg:     Config{GroupsClaim: "groups"},
		payload: `{"preferred_username":"g","groups":["a",7]}`,
		wantErr: `entry 1 is a number, want a string`,
	}, {
		name:    "control character in username",
		payload: `{"preferred_username":"alice\nlevel=admin"}`,
		wantErr: "holds a control character",
	}, {
		name:    "not an object",
		payload: `[1]`,
		wantErr: "not a JSON object",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.mapClaims(iss, sub, []byte(tt.payload))
			if tt.wantErr != "" {
				wantErr(t, err, errdefs.IsUnauthorized, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("mapClaims: %v", err)
			}
			tt.want.Issuer, tt.want.Subject = iss, sub
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
