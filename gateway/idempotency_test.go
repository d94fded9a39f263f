package gateway_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
)

// memClaims is an in-memory gateway.IdempotencyClaims.
type memClaims struct {
	mu     sync.Mutex
	owners map[string]string
}

func (m *memClaims) Claim(_ context.Context, collection, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owners == nil {
		m.owners = map[string]string{}
	}
	k := collection + "/" + key
	if o, ok := m.owners[k]; ok && o != owner {
		return emporium.Errorf(emporium.ECONFLICT, "taken")
	}
	m.owners[k] = owner
	return nil
}

func (m *memClaims) Release(_ context.Context, collection, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owners[collection+"/"+key] == owner {
		delete(m.owners, collection+"/"+key)
	}
	return nil
}

// TestAddAddressKeyReusedWithAnotherBody: the same key and the same body
// (spacing and member order aside) reach the service as a retry; the same
// key with another body is 422 idempotency_key_reused and the service is
// not asked.
func TestAddAddressKeyReusedWithAnotherBody(t *testing.T) {
	f := newFake()
	s := accountsServer(t, f, gateway.Config{Idempotency: &memClaims{}})
	key := http.Header{"Idempotency-Key": {"addr-k1"}}
	first := `{"full_name":"A","line1":"l","city":"c","country":"GB"}`
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: first, header: key})
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	same := `{ "country":"GB", "city":"c", "line1":"l", "full_name":"A" }`
	resp, body = send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: same, header: key})
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	calls := len(f.called("AddAddress"))
	assert.Equal(t, 2, calls, "a retry reaches the service, which answers it")

	other := `{"full_name":"B","line1":"l","city":"c","country":"GB"}`
	resp, body = send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: other, header: key})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.EIDEMPOTENCY, problemOf(t, resp, body).Code)
	assert.Len(t, f.called("AddAddress"), calls, "the service is not asked")

	resp, body = send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: bobToken, body: other, header: key})
	require.Equal(t, http.StatusCreated, resp.StatusCode, "keys are the caller's: %s", body)
}
