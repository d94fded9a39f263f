package gateway_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
)

// TestContractStatesTheAlertLimit: the limit on a user's alerts that the
// contract states is the one the service enforces, from one constant.
func TestContractStatesTheAlertLimit(t *testing.T) {
	doc := gatewaytest.Spec(t)
	item := doc.Paths.Value("/v1/products/{id}/variants/{sku}/alerts")
	require.NotNil(t, item)
	require.NotNil(t, item.Post)
	assert.EqualValues(t, emporium.MaxAlertsPerUser, item.Post.Extensions["x-max-alerts-per-user"])
	list := doc.Paths.Value("/v1/me/alerts")
	require.NotNil(t, list)
	assert.Contains(t, list.Get.Description, "at most 50")
}
