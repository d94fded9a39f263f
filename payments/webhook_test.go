package payments_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test"
	body := []byte(`{"id":"evt_1","type":"payment.captured"}`)
	now := time.Unix(1_900_000_000, 0)
	good := payments.Sign(secret, body, now)
	require.True(t, strings.HasPrefix(good, "t=1900000000,v1="), good)
	_, sig, _ := strings.Cut(good, ",v1=")
	forged := payments.Sign("whsec_other", body, now)
	_, forgedSig, _ := strings.Cut(forged, ",v1=")

	ok := func(header string, body []byte, at time.Time) {
		t.Helper()
		assert.NoError(t, payments.VerifySignature(header, body, secret, at, payments.SignatureTolerance), header)
	}
	refused := func(header string, body []byte, at time.Time) {
		t.Helper()
		err := payments.VerifySignature(header, body, secret, at, payments.SignatureTolerance)
		require.Error(t, err, header)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
		assert.Equal(t, "The webhook signature is missing or not valid.", emporium.ErrorMessage(err), "no reason is shown")
	}
	ok(good, body, now)
	ok(good, body, now.Add(payments.SignatureTolerance))
	ok("t=1900000000,v1="+forgedSig+",v0=abc,v1="+sig, body, now)
	ok(" t=1900000000 , v1="+sig+" ", body, now)

	refused("", body, now)
	refused(forged, body, now)
	refused(good, []byte(`{"id":"evt_1","type":"payment.voided"}`), now)
	refused(good, body, now.Add(payments.SignatureTolerance+time.Second))
	refused(good, body, now.Add(-payments.SignatureTolerance-time.Second))
	refused("t=1900000000", body, now)
	refused("v1="+sig, body, now)
	refused("t=1900000001,v1="+sig, body, now)
	refused("t=1900000000,v1=zz", body, now)
	refused("t=1900000000,v0="+sig, body, now)
	refused("garbage", body, now)

	err := payments.VerifySignature(payments.Sign("", body, now), body, "", now, payments.SignatureTolerance)
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "an empty secret verifies nothing")
}

func TestKeys(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "authorize:o1", payments.Key("o1", payments.StepAuthorize))
	assert.Equal(t, "refund:o1:"+strconv.Itoa(2), payments.RefundKey("o1", 2))
}
