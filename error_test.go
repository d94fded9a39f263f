package emporium_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"

	"github.com/emporium-shop/emporium"
)

func TestErrorCodeAndMessage(t *testing.T) {
	invalid := emporium.Errorf(emporium.EINVALID, "quantity must be positive")
	tests := []struct {
		name     string
		err      error
		code     string
		message  string
		internal bool
	}{
		{"our error", invalid, emporium.EINVALID, "quantity must be positive", false},
		{"wrapped", fmt.Errorf("adding: %w", invalid), emporium.EINVALID, "quantity must be positive", false},
		{"Wrap keeps code", emporium.Wrap("cart.Add", invalid), emporium.EINVALID, "quantity must be positive", false},
		{"plain error is internal", errors.New("dial tcp 10.0.0.7:27017: refused"), emporium.EINTERNAL, "", true},
		{"deadline is unavailable", fmt.Errorf("request: %w", context.DeadlineExceeded), emporium.EUNAVAILABLE, "", true},
		{"grain reason", cluster.NewGrainErrorResponse(emporium.EOUTOFSTOCK, "only 2 left"), emporium.EOUTOFSTOCK, "only 2 left", false},
		{"protoactor reason", cluster.NewGrainErrorResponse(cluster.ErrorReason_DEADLINE_EXCEEDED, "secret detail"), emporium.EUNAVAILABLE, "", true},
		{"grain internal", cluster.NewGrainErrorResponse(emporium.EINTERNAL, "mongo said x"), emporium.EINTERNAL, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, emporium.ErrorCode(tt.err))
			msg := emporium.ErrorMessage(tt.err)
			if tt.internal {
				assert.NotContains(t, msg, "10.0.0.7")
				assert.NotContains(t, msg, "secret")
				assert.NotContains(t, msg, "mongo")
			} else {
				assert.Equal(t, tt.message, msg)
			}
		})
	}
}

func TestGrainCall(t *testing.T) {
	assert.Nil(t, emporium.GrainCall("op", nil))
	timeout := emporium.GrainCall("inventory.Reserve", fmt.Errorf("error request: %w", errors.New("have reached max retries: 3")))
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(timeout), "a failed call is worth retrying, not a bug")
	assert.Contains(t, timeout.Error(), "inventory.Reserve")

	resp := cluster.NewGrainErrorResponse(emporium.EINVALID, "on_hand is below reserved").
		WithMetadata(map[string]string{emporium.FieldsKey: `[{"field":"on_hand","code":"below_reserved","message":"m"}]`})
	err := emporium.GrainCall("inventory.SetStock", resp)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, "on_hand is below reserved", emporium.ErrorMessage(err))
	assert.Equal(t, []emporium.FieldError{{Field: "on_hand", Code: "below_reserved", Message: "m"}}, emporium.ErrorFields(err))
}

func TestErrorString(t *testing.T) {
	err := &emporium.Error{Op: "persistence.Open", Code: emporium.EUNAVAILABLE, Message: "cannot reach MongoDB", Err: errors.New("refused")}
	assert.Equal(t, "persistence.Open: <unavailable> cannot reach MongoDB: refused", err.Error())
	assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE))
	assert.False(t, emporium.IsCode(nil, emporium.EUNAVAILABLE))
}
