import COpenSSL

/// A TLS server context (OpenSSL): certificate and key from PEM files, TLS 1.2 and later only.
public final class TLSContext: @unchecked Sendable {
    // Immutable after init; OpenSSL's SSL_CTX may be shared by connections.
    let ctx: OpaquePointer

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(certificateFile: String, keyFile: String) throws(Failure) {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw Failure(description: "cannot create a TLS context: \(Self.lastError())") }
        self.ctx = ctx
        _ = martlet_ssl_ctx_set_min_proto_version(ctx, martlet_tls1_2_version())
        _ = martlet_ssl_ctx_set_options(ctx, martlet_op_no_renegotiation())
        guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1 else {
            throw Failure(description: "cannot read the TLS certificate \(certificateFile): \(Self.lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1 else {
            throw Failure(description: "cannot read the TLS key \(keyFile): \(Self.lastError())")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw Failure(description: "the TLS key \(keyFile) does not match the certificate \(certificateFile)")
        }
    }

    deinit { SSL_CTX_free(ctx) }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One connection's TLS state over memory BIOs: the connection feeds it the bytes from the
/// socket and sends what it produces, so TLS runs on the same non-blocking Dispatch code as
/// plain HTTP. Confined to the connection's queue.
final class TLSSession {
    private let ssl: OpaquePointer
    private let incoming: OpaquePointer  // socket → OpenSSL
    private let outgoing: OpaquePointer  // OpenSSL → socket
    private var scratch = [UInt8](repeating: 0, count: 16 * 1024)

    enum Failure: Error { case handshake(String), protocolError(String) }

    init?(context: TLSContext) {
        guard let ssl = SSL_new(context.ctx), let rb = BIO_new(BIO_s_mem()), let wb = BIO_new(BIO_s_mem()) else { return nil }
        self.ssl = ssl
        incoming = rb
        outgoing = wb
        SSL_set_bio(ssl, rb, wb)  // the SSL object owns both BIOs now
        SSL_set_accept_state(ssl)
    }

    deinit { SSL_free(ssl) }

    /// Takes bytes from the socket; returns the plaintext they complete (possibly none).
    /// Handshake records to send back are left for `pendingOutput`.
    func receive(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> [UInt8] {
        if bytes.count > 0 { _ = BIO_write(incoming, bytes.baseAddress, Int32(bytes.count)) }
        var plain: [UInt8] = []
        while true {
            let n = scratch.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n > 0 {
                plain.append(contentsOf: scratch[..<Int(n)])
                continue
            }
            let err = SSL_get_error(ssl, n)
            if err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE { return plain }
            if err == SSL_ERROR_ZERO_RETURN { return plain }  // close_notify: the read side ends
            let message = TLSContext.lastError()
            throw SSL_is_init_finished(ssl) == 1 ? .protocolError(message) : .handshake(message)
        }
    }

    /// Encrypts plaintext for the socket.
    func send(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32(bytes.count - offset)) }
            guard n > 0 else { throw .protocolError(TLSContext.lastError()) }
            offset += Int(n)
        }
    }

    /// Records waiting to go to the socket (handshake messages, encrypted data).
    func pendingOutput() -> [UInt8] {
        var out: [UInt8] = []
        while BIO_ctrl_pending(outgoing) > 0 {
            let n = scratch.withUnsafeMutableBytes { BIO_read(outgoing, $0.baseAddress, Int32($0.count)) }
            if n <= 0 { break }
            out.append(contentsOf: scratch[..<Int(n)])
        }
        return out
    }

    /// The handshake is over.
    var isEstablished: Bool { SSL_is_init_finished(ssl) == 1 }

    func shutdown() { _ = SSL_shutdown(ssl) }
}
