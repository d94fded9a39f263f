package actorstest

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
)

// Given builds the state of grain id from events, applied as the shell
// applies them (remembering their command ids), the way a replay does.
func Given[S proto.Message, C any](spec *actors.Spec[S, C], id string, events ...proto.Message) S {
	return spec.Fold(spec.New(id), events...)
}

// Decide decides cmd on s at now the way the shell's Command does, without
// a store: it takes what expired by now (Spec.Expire), then answers a retry
// with no further events or refuses a missing command id (Spec.Dedup), then
// runs decide on the state after the expiry. It returns the events to
// persist, the expiry's first, and leaves s unchanged, so a pure core's
// table tests see what the grain would persist.
func Decide[S proto.Message, C any](spec *actors.Spec[S, C], s S, cmd proto.Message, now time.Time,
	decide func(S) ([]proto.Message, error)) ([]proto.Message, error) {
	var events []proto.Message
	if spec.Expire != nil {
		if expired := spec.Expire(s, now); len(expired) > 0 {
			events = expired
			s = spec.Fold(proto.CloneOf(s), expired...)
		}
	}
	retry, err := spec.Dedup(s, cmd)
	if retry || err != nil {
		return events, err
	}
	decided, err := decide(s)
	return append(events, decided...), err
}

// DiffEvents describes how got differs from want, or returns "" when they
// are equal.
func DiffEvents(want, got []proto.Message) string {
	if len(want) != len(got) {
		return fmt.Sprintf("want %d events %v, got %d %v", len(want), want, len(got), got)
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			return fmt.Sprintf("event %d: want %v, got %v", i, want[i], got[i])
		}
	}
	return ""
}
