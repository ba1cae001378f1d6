//go:build tools

// Package tools pins the Flux source-controller command this module builds.
package tools

import (
	_ "github.com/fluxcd/source-controller"
)
