import Foundation
import FuzzSupport
import KubeSeedCore

/// The parsers of what other machines answer: etcd's v3 JSON gateway (`EtcdMembership.members(in:)`,
/// `addedMember(in:)`, `errorMessage`) and the API server's EndpointSlice (`APIServerDiscovery.endpoints(in:)`),
/// plus the state file the agent keeps from it (`APIServerDiscovery.parse`); a line of etcd's snapshot
/// stream (`EtcdSnapshot.blob(in:)`), a snapshot file name (`EtcdSnapshot.takenAt`), a PodList
/// (`NodeRemoval.sort`), a kubeconfig's inline certificates (`KubeconfigCredential.certificates`), the cluster ID of an etcd
/// answer and the upgrade Lease (`UpgradeLease.parse`, a live lease of another master never taken over). Findings: a trap, a memory
/// error, a hang; an endpoint found that the join file's own endpoint parser would refuse (it goes into
/// the balancer's configuration); a state file rendered from found endpoints that does not read back;
/// a member list answer that is not an error and yet drops a member with a valid ID; a member list read
/// whole that holds a member the validator refuses, two members with one ID, or an `--initial-cluster`
/// entry with a `,` or `=` of its own; an EndpointSlice server on an address no API server has.
@main enum FuzzAPIAnswersMain {
    static func main() { Fuzz.main { data, size in fuzz(data ?? Fuzz.empty, size) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(Fuzz.bytes(data, size))
    if let found = APIServerDiscovery.endpoints(in: body) {
        if found.isEmpty { Fuzz.finding("api-answers", "an empty list of API servers was returned instead of nil") }
        for endpoint in found where APIEndpoint.parse(endpoint) == nil {
            Fuzz.finding("api-answers", "EndpointSlice gave \(endpoint.debugDescription), which the endpoint parser refuses")
        }
        for endpoint in found where !(APIEndpoint.parse(endpoint).map { APIServerDiscovery.isServerAddress($0.host) } ?? false) {
            Fuzz.finding("api-answers", "EndpointSlice gave \(endpoint.debugDescription), an address no API server has")
        }
        if APIServerDiscovery.parse(APIServerDiscovery.render(found, caDigest: "00ff"), caDigest: "00ff") != found {
            Fuzz.finding("api-answers", "the state file of \(found) does not read back")
        }
    }
    _ = APIServerDiscovery.parse(Fuzz.text(data, size), caDigest: "00ff")
    do {
        let members = try EtcdMembership.members(in: body)
        for member in members {
            _ = member.peerHost
            _ = member.hasPeer(ip: "192.0.2.11")
            if let problem = EtcdMembership.checkMember(member) { Fuzz.finding("api-answers", "a member list kept a member the validator refuses: \(problem)") }
        }
        if Set(members.map(\.id)).count != members.count { Fuzz.finding("api-answers", "a member list kept two members with one ID") }
        for entry in EtcdMembership.initialCluster(joining: "master-9", peerURL: "https://192.0.2.19:2380", members: members)
        where entry.name.contains(",") || entry.name.contains("=") || entry.peerURL.contains(",") || entry.peerURL.contains("=") {
            Fuzz.finding("api-answers", "an --initial-cluster entry adds a peer of its own: \(entry.name.debugDescription)=\(entry.peerURL.debugDescription)")
        }
        _ = EtcdMembership.removal(of: "192.0.2.11", members: members, healthyIDs: Set(members.prefix(2).map(\.id)))
        _ = EtcdMembership.initialCluster(joining: "master-9", peerURL: "https://192.0.2.19:2380", members: members)
        for endpoint in EtcdMembership.apiServerEndpoints(members) where APIEndpoint.parse(endpoint) == nil {
            Fuzz.finding("api-answers", "etcd members gave API server \(endpoint.debugDescription), which the endpoint parser refuses")
        }
    } catch is EtcdMembership.AnswerError {
    } catch {
        Fuzz.unexpected("api-answers", error)
    }
    _ = try? EtcdMembership.addedMember(in: body)
    _ = EtcdMembership.clusterID(in: body)
    // The upgrade lease as the API server answers it: a lease read back must decide as its fields say.
    if let held = try? UpgradeLease.parse(body) {
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let decision = UpgradeLease.decide(held, holder: "master-9", now: now)
        if case .takeOver = decision, !held.holder.isEmpty, held.holder != "master-9", (held.expires.map { $0 > now } ?? true) {
            Fuzz.finding("api-answers", "a live lease of \(held.holder.debugDescription) was taken over")
        }
        if let resent = try? UpgradeLease.parse(UpgradeLease.object(holder: "master-9", durationSeconds: 3900, now: now, replacing: held.resourceVersion)),
           resent.holder != "master-9" || resent.resourceVersion != held.resourceVersion || resent.durationSeconds != 3900 {
            Fuzz.finding("api-answers", "the lease sent does not read back: \(resent)")
        }
    }
    _ = EtcdMembership.errorMessage(body)
    do { _ = try EtcdSnapshot.blob(in: body) } catch is EtcdSnapshot.StreamError {} catch { Fuzz.unexpected("api-answers", error) }
    do {
        let pods = try NodeRemoval.sort(body)
        let all = pods.toEvict + pods.terminating + pods.leftWithNode
        if Set(all).count > all.count { Fuzz.finding("api-answers", "a pod was sorted twice") }
    } catch is NodeRemoval.AnswerError {
    } catch {
        Fuzz.unexpected("api-answers", error)
    }
    let text = Fuzz.text(data, size)
    if let taken = EtcdSnapshot.takenAt(text), !text.hasSuffix(EtcdSnapshot.stamp(taken) + EtcdSnapshot.suffix) {
        Fuzz.finding("api-answers", "snapshot name \(text.debugDescription) read as \(taken), which is named otherwise")
    }
    _ = KubeconfigCredential.certificates(in: text)
    return 0
}
