import Foundation
import FuzzSupport
import KubeSeedCore

/// The CSR reader: `CanonicalPEM.der` on `spec.request`'s bytes, then the approver's whole review of a
/// CSR carrying them. Findings: a trap, a memory error, a hang; bytes accepted that are not exactly the
/// canonical encoding of the DER they gave (one block, lines of 64, one final newline: anything else can
/// be read otherwise by Go's encoding/pem, which the signer uses); an approval of bytes the canonical
/// reader refuses.
@main enum FuzzCSRReaderMain {
    static func main() { Fuzz.main { data, size in fuzz(data ?? Fuzz.empty, size) } }
}

let book = AddressBook(nodes: ["worker-1": "192.0.2.11"], masters: ["master-1": "192.0.2.10"], serviceCIDR: "10.254.0.0/16",
                       roles: ["worker-1": ["worker"], "master-1": ["control-plane"]])
let addresses = [NodeAddress("InternalIP", "192.0.2.11"), NodeAddress("Hostname", "worker-1")]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    var canonical = false
    do {
        let der = try CanonicalPEM.der(bytes, type: "CERTIFICATE REQUEST")
        canonical = true
        if CanonicalPEM.encode(der, type: "CERTIFICATE REQUEST") != bytes {
            Fuzz.finding("csr-reader", "accepted bytes that are not the canonical encoding of their DER")
        }
        if bytes.contains(13) || String(decoding: bytes, as: UTF8.self).components(separatedBy: "-----BEGIN ").count != 2 {
            Fuzz.finding("csr-reader", "accepted bytes with a CR or not exactly one BEGIN")
        }
    } catch {}
    let csr = CSRFacts(name: "csr-1", resourceVersion: "7", signerName: KubeletServingReview.signer, username: "system:node:worker-1",
                       groups: ["system:nodes"], usages: ["digital signature", "server auth"], request: bytes)
    if case .approve = KubeletServingReview.review(csr, nodeAddresses: addresses, book: book), !canonical {
        Fuzz.finding("csr-reader", "approved a request the canonical reader refuses")
    }
    return 0
}
