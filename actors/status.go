package actors

import (
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	memberpb "github.com/emporium-shop/emporium/protos/memberpb"
)

// StatusActorName is the name of the actor every member runs to answer
// MemberStatusRequest: a plain named actor, so that a member's status is
// asked of that member, wherever grains happen to be.
const StatusActorName = "emporium-member-status"

// ServeStatus spawns the member's status actor, which answers each
// MemberStatusRequest with report(). report runs on the actor's goroutine
// and must not block: it reads counters, it does not do I/O.
func ServeStatus(system *actor.ActorSystem, report func() *memberpb.MemberStatus) error {
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*memberpb.MemberStatusRequest); ok {
			ctx.Respond(report())
		}
	})
	if _, err := system.Root.SpawnNamed(props, StatusActorName); err != nil {
		return fmt.Errorf("cluster: cannot start the member status actor: %w", err)
	}
	return nil
}

// MemberReport is what one member of the member list answered, or why it
// did not.
type MemberReport struct {
	// ID and Address are the member as the member list knows it.
	ID, Address string
	// Status is the member's answer; nil when Err is set.
	Status *memberpb.MemberStatus
	// Err says why the member did not answer (a timeout, a build without
	// the status actor, an error it answered).
	Err error
}

// AskMembers asks every member of c's member list for its status, all at
// once, each within timeout, and returns the reports in the order of the
// member list.
func AskMembers(c *cluster.Cluster, timeout time.Duration) []MemberReport {
	members := Members(c)
	reports := make([]MemberReport, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		reports[i] = MemberReport{ID: m.Id, Address: m.Address()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid := actor.NewPID(m.Address(), StatusActorName)
			res, err := c.ActorSystem.Root.RequestFuture(pid, &memberpb.MemberStatusRequest{}, timeout).Result()
			switch r := res.(type) {
			case nil:
				reports[i].Err = err
			case *memberpb.MemberStatus:
				reports[i].Status = r
			case *cluster.GrainErrorResponse:
				// An older build answers a message it lacks this way
				// (wire.go).
				reports[i].Err = fmt.Errorf("%s: %s", r.Reason, r.Message)
			default:
				reports[i].Err = fmt.Errorf("unexpected answer %T", res)
			}
		}()
	}
	wg.Wait()
	return reports
}

// Counts returns the live activations of this node by kind, every kind
// registered included (at zero).
func (a *Activations) Counts() map[string]int64 {
	if a == nil {
		return map[string]int64{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int64, len(a.kinds)+1)
	for k := range a.kinds {
		out[k] = 0
	}
	for _, kind := range a.live {
		out[kind]++
	}
	return out
}
