import StrataCore
import StrataTestSupport

/// An `STXT` text document written field by field from Protocol/SPEC.md §4.3, not by the
/// encoder: as it stands, the spec's first example (one replica that typed "x"). The numbers
/// the spec writes as varints (versions, the run count, delete counts) are kept as bytes, so a
/// test or a vector can hold an overlong or oversized one.
struct HandWrittenText {
    var magic: [UInt8] = Array("STXT".utf8)
    var version: UInt8 = 1
    var replicas: [ReplicaID]
    /// One varint per replica.
    var versions: [[UInt8]] = [[1]]
    var runCount: [UInt8] = [1]
    var flags: [UInt8] = [0x54]
    var replicaColumn: [UInt8] = [0]
    var counterColumn: [UInt8] = []
    var lengthColumn: [UInt8] = [1]
    var leftColumn: [UInt8] = []
    var rightColumn: [UInt8] = []
    var content: [UInt8] = Array("x".utf8)
    /// One varint per replica, concatenated.
    var deleteCounts: [UInt8] = [0]
    var targets: [UInt8] = []
    var starts: [UInt8] = []
    var deleteLengths: [UInt8] = []
    var pending: [UInt8] = []
    var trailing: [UInt8] = []

    init(replica: ReplicaID) { replicas = [replica] }

    var bytes: [UInt8] {
        let column = HandWrittenBytes.column
        var d = magic + [version] + HandWrittenBytes.varint(UInt64(replicas.count))
        for r in replicas { d += r.bytes }
        for v in versions { d += v }
        d += runCount
        for c in [flags, replicaColumn, counterColumn, lengthColumn, leftColumn, rightColumn, content] { d += column(c) }
        d += deleteCounts
        for c in [targets, starts, deleteLengths, pending] { d += column(c) }
        return d + trailing
    }
}
