package actorstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
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

// Check is one row of a pure core's table test: the state the events Given
// build, the command, and either the events it must yield or the error code
// it must be refused with (and, for EINVALID, the first field error's field
// and code).
type Check struct {
	Name      string
	Given     []proto.Message
	Cmd       proto.Message
	Want      []proto.Message
	ErrCode   string
	Field     string
	FieldCode string
}

// RunChecks runs each check as a subtest: it builds the state with given,
// decides the command with decide (the way the shell does, see Decide) and
// compares the answer with the check's, and it fails a decision that changed
// the state it was given.
func RunChecks[S proto.Message](t *testing.T, checks []Check, given func(...proto.Message) S,
	decide func(S, proto.Message) ([]proto.Message, error)) {
	t.Helper()
	for _, tt := range checks {
		t.Run(tt.Name, func(t *testing.T) {
			s := given(tt.Given...)
			before := proto.Clone(s)
			got, err := decide(s, tt.Cmd)
			if tt.ErrCode != "" {
				require.Error(t, err)
				assert.Equal(t, tt.ErrCode, emporium.ErrorCode(err), "error: %v", err)
				assert.NotEmpty(t, emporium.ErrorMessage(err))
				assert.Empty(t, got)
				if tt.Field != "" {
					fields := emporium.ErrorFields(err)
					require.NotEmpty(t, fields, "error: %v", err)
					assert.Equal(t, tt.Field, fields[0].Field, "fields: %v", fields)
					assert.Equal(t, tt.FieldCode, fields[0].Code, "fields: %v", fields)
				}
			} else {
				require.NoError(t, err)
				assert.Empty(t, DiffEvents(tt.Want, got))
			}
			assert.True(t, proto.Equal(before, s), "decide changed the state")
		})
	}
}
