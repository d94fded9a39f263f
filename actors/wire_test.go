package actors

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	cartpb "github.com/emporium-shop/emporium/protos/cartpb"
)

// TestWireGuardDropsWhatTheReaderCannotTake feeds the guard a batch mixing a
// readable envelope with every kind the endpoint reader would crash on, and
// checks that only the readable one stays and that a dropped request's
// sender is answered unavailable.
func TestWireGuardDropsWhatTheReaderCannotTake(t *testing.T) {
	system := actor.NewActorSystem()
	g := &wireGuard{system: system, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	asked := actor.NewFuture(system, 5*time.Second)
	target := actor.NewPID("127.0.0.1:1", "grain")
	batch := &remote.MessageBatch{
		TypeNames: []string{"actor.PID", "emporium.upgrade.v2.Future"},
		Targets:   []*actor.PID{target},
		Senders:   []*actor.PID{asked.PID()},
		Envelopes: []*remote.MessageEnvelope{
			{TypeId: 0, Target: 0},                               // readable: kept
			{TypeId: 1, Target: 0, Sender: 1},                    // unknown type, a request: answered
			{TypeId: 1, Target: 0},                               // unknown type, no sender: dropped
			{TypeId: 7, Target: 0},                               // type index out of range
			{TypeId: 0, Target: 3},                               // target index out of range
			{TypeId: 0, Target: 0, Sender: 2},                    // sender index out of range
			{TypeId: 0, Target: 0, SerializerId: 9},              // no such serializer
			{TypeId: 1, Target: 0, SerializerId: serializerJSON}, // JSON copes with unknown types: kept
		},
	}
	g.filter(batch)
	require.Len(t, batch.Envelopes, 2)
	assert.Equal(t, int32(0), batch.Envelopes[0].TypeId)
	assert.Equal(t, int32(serializerJSON), batch.Envelopes[1].SerializerId)

	answer, err := asked.Result()
	require.NoError(t, err)
	ge, ok := answer.(*cluster.GrainErrorResponse)
	require.True(t, ok, "answer %T", answer)
	assert.Equal(t, emporium.EUNAVAILABLE, ge.Reason)
	assert.Contains(t, ge.Message, "emporium.upgrade.v2.Future")
}

// TestGrainMethodsKnowsTheServices checks that a kind's method count is
// found from its linked service, and that an unlinked kind gets no guard.
func TestGrainMethodsKnowsTheServices(t *testing.T) {
	n, found := serviceMethods("CartGrain")
	require.True(t, found)
	assert.Equal(t, cartpb.File_cartpb_cart_proto.Services().ByName("CartGrain").Methods().Len(), n)
	assert.NotNil(t, grainMethods("CartGrain"))
	n, found = serviceMethods("PID")
	assert.False(t, found, "a message is not a service: %d", n)
	assert.Nil(t, grainMethods("NoSuchGrain"))
}
