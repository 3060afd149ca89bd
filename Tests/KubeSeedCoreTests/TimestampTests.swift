import Foundation
import Testing
@testable import KubeSeedCore

/// Pure logic: RFC 3339 formatting and parsing, checked against Foundation's ICU formatter.
@Suite struct TimestampTests {
    @Test func formatsUTCToTheSecondLikeTheICUFormatter() {
        for seconds in [0, 1_000_000_000, 1_795_000_123.75] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(Timestamp.string(date) == ISO8601DateFormatter().string(from: date))
        }
        #expect(Timestamp.string(Date(timeIntervalSince1970: 1_000_000_000)) == "2001-09-09T01:46:40Z")
    }

    @Test func parsesZuluAndOffsetsAndRejectsTheRest() {
        #expect(Timestamp.date("2026-12-01T00:00:00Z") == Date(timeIntervalSince1970: 1_796_083_200))
        #expect(Timestamp.date("2026-12-01T08:00:00+08:00") == Date(timeIntervalSince1970: 1_796_083_200))
        for bad in ["2026-12-01", "tomorrow", "", "2026-13-01T00:00:00Z", "2026-12-01 00:00:00"] {
            #expect(Timestamp.date(bad) == nil, "accepted '\(bad)'")
        }
    }

    @Test func hexPadsToWidth() {
        #expect(UInt8(0x0a).hexDigits(width: 2) == "0a")
        #expect(UInt32(0x7f).hexDigits(width: 4) == "007f")
        #expect(UInt32(0x12345).hexDigits(width: 4) == "12345")
    }
}

/// Pure logic: the time settings read the way timedated reads them.
@Suite struct TimeStateReadingTests {
    @Test func zoneFromTheLocaltimeLink() {
        #expect(TimeState.zone(localtimeTarget: "/usr/share/zoneinfo/Asia/Shanghai") == "Asia/Shanghai")
        #expect(TimeState.zone(localtimeTarget: "../usr/share/zoneinfo/Etc/UTC") == "Etc/UTC")
        #expect(TimeState.zone(localtimeTarget: "/etc/zoneinfo-custom/x") == nil)
        #expect(TimeState.zone(localtimeTarget: "/usr/share/zoneinfo/") == nil)
    }

    @Test func rtcInLocalTimeOnlyWhenAdjtimeSaysLOCAL() {
        #expect(TimeState.localRTC(adjtime: "0.0 0 0.0\n0\nLOCAL\n"))
        #expect(!TimeState.localRTC(adjtime: "0.0 0 0.0\n0\nUTC\n"))
        #expect(!TimeState.localRTC(adjtime: nil))
        #expect(!TimeState.localRTC(adjtime: "0.0 0 0.0\n"))
    }

    @Test func synchronizedWhileTheMaximumErrorIsUnder16Seconds() {
        #expect(TimeState.ntpSynchronized(maxErrorMicroseconds: 15_999_999))
        #expect(!TimeState.ntpSynchronized(maxErrorMicroseconds: 16_000_000))
    }
}
