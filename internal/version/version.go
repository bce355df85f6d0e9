// Package version holds tenantctl's version: what `tenantctl version` prints
// and the tag of the images `go tool task images` builds (scripts/images.sh
// reads it from this file), so a binary's default images are the ones built
// from the same checkout. Standard library only.
package version

// Version is tenantctl's release version. A release build may stamp another
// with -ldflags "-X github.com/tenantctl/tenantctl/internal/version.Version=…";
// its default images then name that tag. Keep the line below in this form:
// scripts/images.sh reads it.
var Version = "0.1.0"
