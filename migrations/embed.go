// Package migrations holds the tenant database schema as ordered SQL files,
// embedded in the tenantctl binary and applied by internal/migrate.
//
// Files are named NNNNN_description.sql and use goose annotations: each starts
// with "-- +goose Up"; statements whose bodies contain semicolons (functions,
// DO blocks) sit between "-- +goose StatementBegin" and "-- +goose
// StatementEnd"; a file runs in one transaction unless it says
// "-- +goose NO TRANSACTION". An applied file must never be edited: its
// checksum is recorded and the runner refuses a changed file. Change the
// schema by adding a new file. See docs/migrations.md.
package migrations

import "embed"

// FS holds the *.sql migration files at its root.
//
//go:embed *.sql
var FS embed.FS
