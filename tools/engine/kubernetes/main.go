// Command pulumi-resource-kubernetes is the Pulumi Kubernetes provider plugin, built from
// the Go module proxy. Upstream's main embeds schema-embed.json and
// terraform-mapping-embed.json, which its `go generate` writes and which are neither in git
// nor in the module zip; tools/engine/build.sh copies the module's schema.json (with the
// version stamped in) and terraform-mapping.json next to this file in a scratch copy of
// the module, and this main hands them to the provider's own Serve.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var mapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, mapping)
}
