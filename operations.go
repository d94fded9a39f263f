package emporium

import (
	"context"
	"time"
)

// ClusterAdmin tells administrators what the cluster is made of, so that an
// operator resizing it can watch members come and go (GET
// /v1/admin/cluster).
type ClusterAdmin interface {
	// ClusterStatus answers the cluster as the node asked sees it: every
	// member of its member list with that member's own account of itself,
	// and the state of the services the node depends on. A member that does
	// not answer in time is listed as unreachable, not left out. A caller
	// without the admin role is EFORBIDDEN.
	ClusterStatus(ctx context.Context, p Principal) (ClusterStatus, error)
}

// Member statuses of ClusterMember.Status.
const (
	// MemberServing is a member that answered and takes requests.
	MemberServing = "serving"
	// MemberDraining is a member in an orderly stop: its readiness fails,
	// it finishes what it has and then leaves.
	MemberDraining = "draining"
	// MemberUnreachable is a member in the member list that did not answer
	// (it is stopping, overloaded, or runs a build without the question).
	MemberUnreachable = "unreachable"
)

// Dependency states of Dependency.Status.
const (
	DependencyOK          = "ok"
	DependencyUnavailable = "unavailable"
)

// MaxClusterMembers bounds the members a ClusterStatus lists: a cluster of
// more is beyond what this report is for, and the contract states the bound.
const MaxClusterMembers = 64

// ClusterStatus is the cluster as one node sees it.
type ClusterStatus struct {
	// Node is the cluster address of the member that answered.
	Node string `json:"node"`
	// Members are the members of its member list, by address.
	Members []ClusterMember `json:"members"`
	// Store, Redis and Search are the state of the shared services as this
	// node reaches them.
	Store  Dependency `json:"store"`
	Redis  Dependency `json:"redis"`
	Search Dependency `json:"search"`
	// CheckedAt is when the report was made.
	CheckedAt time.Time `json:"checked_at"`
}

// ClusterMember is one member of the cluster.
type ClusterMember struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Self marks the member that answered.
	Self bool `json:"self"`
	// Status is MemberServing, MemberDraining or MemberUnreachable.
	Status string `json:"status"`
	// Version is the build the member runs; empty when unreachable.
	Version string `json:"version,omitempty"`
	// Grains counts the grain activations live on the member, by kind;
	// empty when unreachable.
	Grains map[string]int64 `json:"grains"`
	// Search is the member's search index; nil when unreachable.
	Search *MemberSearch `json:"search,omitempty"`
}

// MemberSearch is a member's search index.
type MemberSearch struct {
	// Backend is "bleve" (the member's own embedded index) or
	// "elasticsearch" (shared by the cluster).
	Backend string `json:"backend"`
	// FeedCursor is, for an embedded index, the position in the shared
	// search feed up to which the index has followed the store.
	FeedCursor uint64 `json:"feed_cursor"`
}

// Dependency is the state of one service a node depends on.
type Dependency struct {
	// Backend names the implementation, e.g. "sqlite", "mongodb", "redis",
	// "miniredis", "bleve", "elasticsearch".
	Backend string `json:"backend"`
	// Status is DependencyOK or DependencyUnavailable.
	Status string `json:"status"`
}
