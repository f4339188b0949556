//go:build libsqlite3

package db

const builtWithSystemSQLite = true
