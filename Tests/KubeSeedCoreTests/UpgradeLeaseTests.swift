import Foundation
import Testing
@testable import KubeSeedCore

/// The upgrade lease, pure: who may take it, the Lease sent (parsed back), the answer read. The real API
/// server takes, refuses and gives it back in RealAPIServerTests.
@Suite struct UpgradeLeaseTests {
    let now = Date(timeIntervalSince1970: 1_796_000_000)

    @Test func aMasterTakesAFreeOrExpiredLeaseRenewsItsOwnAndIsRefusedAnotherMastersLiveOne() {
        let live = UpgradeLease.Held(holder: "master-2", renewed: now.addingTimeInterval(-60), durationSeconds: 3900, resourceVersion: "7")
        let expired = UpgradeLease.Held(holder: "master-2", renewed: now.addingTimeInterval(-4000), durationSeconds: 3900, resourceVersion: "8")
        let endsNow = UpgradeLease.Held(holder: "master-2", renewed: now.addingTimeInterval(-3900), durationSeconds: 3900)
        let noTime = UpgradeLease.Held(holder: "master-2", renewed: nil, durationSeconds: 3900)
        let noHolder = UpgradeLease.Held(holder: "", renewed: now, durationSeconds: 3900)
        let mine = UpgradeLease.Held(holder: "master-1", renewed: now.addingTimeInterval(-60), durationSeconds: 3900, resourceVersion: "9")
        #expect(UpgradeLease.decide(nil, holder: "master-1", now: now) == .create)
        #expect(UpgradeLease.decide(live, holder: "master-1", now: now) == .heldElsewhere(live))
        #expect(UpgradeLease.decide(expired, holder: "master-1", now: now) == .takeOver(expired))
        #expect(UpgradeLease.decide(endsNow, holder: "master-1", now: now) == .takeOver(endsNow))
        // A lease that does not say when it ends keeps others out (until it is deleted).
        #expect(UpgradeLease.decide(noTime, holder: "master-1", now: now) == .heldElsewhere(noTime))
        let noDuration = UpgradeLease.Held(holder: "master-2", renewed: now.addingTimeInterval(-99_999), durationSeconds: nil)
        #expect(UpgradeLease.decide(noDuration, holder: "master-1", now: now) == .heldElsewhere(noDuration))
        #expect(UpgradeLease.decide(noHolder, holder: "master-1", now: now) == .takeOver(noHolder))
        #expect(UpgradeLease.decide(mine, holder: "master-1", now: now) == .renew(mine))
        #expect(live.expires == now.addingTimeInterval(3840))
    }

    @Test func theLeaseSentParsesBackWithItsHolderTimeDurationAndTheVersionItReplaces() throws {
        let at = now.addingTimeInterval(0.25)
        let sent = UpgradeLease.object(holder: "master-1", durationSeconds: 3900, now: at, replacing: "42")
        let object = try #require(try JSONSerialization.jsonObject(with: sent) as? [String: Any])
        #expect(object["apiVersion"] as? String == "coordination.k8s.io/v1" && object["kind"] as? String == "Lease")
        let spec = try #require(object["spec"] as? [String: Any])
        #expect(spec["renewTime"] as? String == "2026-11-30T00:53:20.250000Z")
        #expect(spec["acquireTime"] as? String == spec["renewTime"] as? String)
        let held = try UpgradeLease.parse(sent)
        #expect(held == UpgradeLease.Held(holder: "master-1", renewed: now, durationSeconds: 3900, resourceVersion: "42"))
        #expect(try UpgradeLease.parse(UpgradeLease.object(holder: "m", durationSeconds: 1, now: now)).resourceVersion == nil)
    }

    @Test func anAnswerWithoutASpecIsALeaseNobodyHoldsAndANonObjectIsAnError() throws {
        let bare = try UpgradeLease.parse(Data(#"{"metadata":{"name":"kubeseed-upgrade","resourceVersion":"5"}}"#.utf8))
        #expect(bare == UpgradeLease.Held(holder: "", renewed: nil, durationSeconds: nil, resourceVersion: "5"))
        // A duration that is not a JSON integer is no duration.
        for odd in ["3.5", "true", "\"3600\"", "1e3"] {
            let held = try UpgradeLease.parse(Data(#"{"spec":{"holderIdentity":"master-2","renewTime":"2026-11-30T00:53:20.000000Z","leaseDurationSeconds":\#(odd)}}"#.utf8))
            #expect(held.durationSeconds == nil, "\(odd)")
            #expect(UpgradeLease.decide(held, holder: "master-1", now: now) == .heldElsewhere(held), "\(odd)")
        }
        #expect(UpgradeLease.decide(bare, holder: "master-1", now: now) == .takeOver(bare))
        #expect(throws: (any Error).self) { try UpgradeLease.parse(Data("[]".utf8)) }
        #expect(throws: (any Error).self) { try UpgradeLease.parse(Data("not json".utf8)) }
        // A time with a zone offset, and one without a fraction.
        #expect(UpgradeLease.date("2026-11-30T01:53:20.999999+01:00") == now)
        #expect(UpgradeLease.date("2026-11-30T00:53:20Z") == now)
    }

    @Test func theReleaseNamesTheVersionRead() throws {
        let options = try #require(try JSONSerialization.jsonObject(with: UpgradeLease.releaseOptions(resourceVersion: "42")) as? [String: Any])
        #expect((options["preconditions"] as? [String: Any])?["resourceVersion"] as? String == "42")
        let bare = try #require(try JSONSerialization.jsonObject(with: UpgradeLease.releaseOptions(resourceVersion: nil)) as? [String: Any])
        #expect(bare["preconditions"] == nil && bare["kind"] as? String == "DeleteOptions")
    }
}
