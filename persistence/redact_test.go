package persistence_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/emporium-shop/emporium/persistence"
)

func TestRedactURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"mongodb://db.example:27017", "mongodb://db.example:27017"},
		{"mongodb://alice@db.example/", "mongodb://alice@db.example/"},
		{"mongodb://alice:secret@db.example:27017/shop", "mongodb://alice:xxxxx@db.example:27017/shop"},
		{"mongodb+srv://alice:secret@cluster0.example/?retryWrites=true", "mongodb+srv://alice:xxxxx@cluster0.example/?retryWrites=true"},
		{"mongodb://alice:se@cr/et@a:1,b:2/?replicaSet=rs", "mongodb://alice:xxxxx@a:1,b:2/?replicaSet=rs"},
		{"mongodb://alice:p%40ss@h/", "mongodb://alice:xxxxx@h/"},
		{
			"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok&tlsCertificateKeyFilePassword=pw",
			"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx&tlsCertificateKeyFilePassword=xxxxx",
		},
		{"not a uri with secret", "xxxxx"},
	}
	for _, tt := range tests {
		got := persistence.RedactURI(tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		for _, secret := range []string{"secret", "se@cr", "tok", "pw", "p%40ss"} {
			if strings.Contains(tt.in, secret) {
				assert.NotContains(t, got, secret, tt.in)
			}
		}
	}
}
