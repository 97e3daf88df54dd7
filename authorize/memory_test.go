package authorize_test

import (
	"testing"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/authorize/registrytest"
)

func TestMemoryRegistryConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Store { return &authorize.MemoryRegistry{} })
}
