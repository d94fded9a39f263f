package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
)

// fakeCluster answers ClusterStatus as the node does: administrators only.
type fakeCluster struct{ asked []emporium.Principal }

func (f *fakeCluster) ClusterStatus(_ context.Context, p emporium.Principal) (emporium.ClusterStatus, error) {
	f.asked = append(f.asked, p)
	if !p.HasRole(emporium.RoleAdmin) {
		return emporium.ClusterStatus{}, emporium.Errorf(emporium.EFORBIDDEN, "Only administrators may see the cluster.")
	}
	ok := emporium.Dependency{Backend: "mongodb", Status: emporium.DependencyOK}
	return emporium.ClusterStatus{
		Node: "10.0.0.1:7001",
		Members: []emporium.ClusterMember{
			{ID: "m1", Address: "10.0.0.1:7001", Self: true, Status: emporium.MemberServing, Version: "dev",
				Grains: map[string]int64{"CartGrain": 3, "OrderGrain": 0}, Search: &emporium.MemberSearch{Backend: "bleve", FeedCursor: 12}},
			{ID: "m2", Address: "10.0.0.2:7001", Status: emporium.MemberUnreachable, Grains: map[string]int64{}},
		},
		Store: ok, Redis: emporium.Dependency{Backend: "redis", Status: emporium.DependencyUnavailable},
		Search: emporium.Dependency{Backend: "bleve", Status: emporium.DependencyOK}, CheckedAt: time.Now().UTC(),
	}, nil
}

// TestAdminClusterRoute: anonymous is 401, a customer 403 (decided by the
// service, which sees who asks), an administrator gets the report as the
// contract describes it, never cached.
func TestAdminClusterRoute(t *testing.T) {
	accounts, cluster := newFake(), &fakeCluster{}
	s, _ := newServer(t, gateway.Config{Accounts: accounts, Cluster: cluster})
	get := func(token string) (*http.Response, []byte) {
		req := httptest.NewRequest(http.MethodGet, "/v1/admin/cluster", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return gatewaytest.Do(t, s, req)
	}
	resp, _ := get("")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, cluster.asked, "nobody asked the cluster for an anonymous caller")
	resp, body := get(aliceToken)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", body)
	assert.NotContains(t, string(body), "10.0.0.1")

	admin := "admin.access.token"
	accounts.tokens = map[string]emporium.Principal{admin: {UserID: "u-root", SessionID: "s-root", Roles: []string{emporium.RoleAdmin}}}
	resp, body = get(admin)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Contains(t, string(body), `"CartGrain":3`)
	assert.Contains(t, string(body), `"status":"unreachable"`)
}

// TestReadyzFailsWhileDraining: once Drain is called readiness fails,
// whatever its checks say, while liveness and the other routes still
// answer: the node finishes what reaches it while load balancers move away.
func TestReadyzFailsWhileDraining(t *testing.T) {
	s, _ := newServer(t, gateway.Config{Checks: []gateway.Check{{Name: "store", Check: ok}}})
	resp, _ := gatewaytest.Do(t, s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.False(t, s.Draining())

	s.Drain()
	assert.True(t, s.Draining())
	resp, body := gatewaytest.Do(t, s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.JSONEq(t, `{"status":"draining","checks":{"store":"draining"}}`, string(body))
	resp, _ = gatewaytest.Do(t, s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "alive while draining")
}
