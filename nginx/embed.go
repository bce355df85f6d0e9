// Package nginx holds the router's base nginx configuration, embedded in the
// binary. The base file includes "tenants.conf", which consul-template renders
// from consultemplates.NginxTenants.
package nginx

import "embed"

// BaseConf is the file name, inside FS, of the base nginx.conf.
const BaseConf = "nginx.conf"

// TenantsConf is the file name the base configuration includes: where the
// rendered tenants template must be written, in the same directory.
const TenantsConf = "tenants.conf"

// FS holds the base configuration.
//
//go:embed nginx.conf
var FS embed.FS
