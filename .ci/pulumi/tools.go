// Pins the Pulumi CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) this module builds;
// see .ci/pulumi.sh.
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
