// Package protos links every protobuf package of Emporium. A node answers a
// protobuf type it does not link with an error instead of handling it
// (actors/wire.go; Proto.Actor alone crashes, DESIGN §2), and a journal
// event of such a type cannot be loaded, so every binary imports this
// package, and a new protos package is added here. Messages change only by
// addition (docs/operations.md, Rolling upgrades); wire_test.go checks it.
//
// Regenerate the Go code with `make proto`; protos_test.go fails when the
// committed code is stale.
package protos

import (
	// Linked for their protobuf registrations.
	_ "github.com/emporium-shop/emporium/protos/cartpb"
	_ "github.com/emporium-shop/emporium/protos/categorypb"
	_ "github.com/emporium-shop/emporium/protos/inventorypb"
	_ "github.com/emporium-shop/emporium/protos/memberpb"
	_ "github.com/emporium-shop/emporium/protos/orderpb"
	_ "github.com/emporium-shop/emporium/protos/productpb"
	_ "github.com/emporium-shop/emporium/protos/sessionpb"
	_ "github.com/emporium-shop/emporium/protos/userpb"
)
