// Package migration speaks LXD 5.0's instance migration protocol, both as
// the source and as the target, so that instances move between lodge
// servers and between lodge and LXD.
//
// A migration uses two websockets of one operation: "control" carries the
// protobuf messages of package pb (one message per binary frame: the offer
// header, the answer, the final MigrationControl), and "fs" carries, in
// order, the JSON index header with its reply and then one rsync run per
// volume (snapshots oldest first, then the instance's volume, then for a
// running source a final pass), each ended in both directions by an empty
// text frame.
//
// The package knows nothing of HTTP, operations or the database: the
// caller hands it the two connections (*websocket.Conn satisfies Conn) and
// the storage side through SourceVolumes and TargetVolumes, and records
// instances and snapshots itself. RunSource and RunTarget do not close the
// connections; the caller closes both when they return.
package migration
