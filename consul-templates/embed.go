// Package consultemplates holds the consul-template templates tenantctl
// ships, embedded in the binary. The router renders NginxTenants into the
// nginx http-context file that nginx/nginx.conf includes.
package consultemplates

import "embed"

// NginxTenants is the file name, inside FS, of the template that renders one
// nginx server per tenant app service from Consul. Its output is meant to be
// written as "tenants.conf" next to the base nginx.conf.
const NginxTenants = "nginx-tenants.conf.ctmpl"

// FS holds every template.
//
//go:embed *.ctmpl
var FS embed.FS
