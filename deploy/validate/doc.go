// Package validate holds the tests that check the deploy artifacts without
// starting them.
package validate
