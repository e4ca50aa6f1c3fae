using System.Security.Cryptography;

namespace Apiary.Events;

/// <summary>
/// The key that signs audit checkpoints: ECDSA on the NIST P-256 curve with SHA-256, from .NET's own cryptography. The
/// private half signs and stays in the home's <c>keys/</c> folder, outside the log; the public half is enough to verify,
/// so it can be copied anywhere to check a log without being able to forge one.
/// </summary>
public sealed class AuditKey : IDisposable
{
    private const string PrivateLabel = "PRIVATE KEY";
    private const string PublicLabel = "PUBLIC KEY";

    private readonly ECDsa _ecdsa;

    private AuditKey(ECDsa ecdsa, bool canSign)
    {
        _ecdsa = ecdsa;
        CanSign = canSign;
        Id = Convert.ToHexStringLower(SHA256.HashData(ecdsa.ExportSubjectPublicKeyInfo()))[..16];
    }

    /// <summary>The first 16 hexadecimal digits of the SHA-256 of the public key: which key signed a checkpoint.</summary>
    public string Id { get; }

    /// <summary>True when this is the private key, which signs; false for the public key, which only verifies.</summary>
    public bool CanSign { get; }

    /// <summary>A new random key pair.</summary>
    public static AuditKey Create() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256), canSign: true);

    /// <summary>Reads a key from PEM: a private key (<c>PRIVATE KEY</c>, PKCS#8) or a public key (<c>PUBLIC KEY</c>).</summary>
    /// <exception cref="FormatException">The text is not a P-256 key in one of those forms.</exception>
    public static AuditKey FromPem(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        if (!PemEncoding.TryFind(pem, out var fields))
        {
            throw new FormatException("it holds no PEM-encoded key");
        }

        var label = pem[fields.Label];
        var der = Convert.FromBase64String(pem[fields.Base64Data]);
        var ecdsa = ECDsa.Create();
        try
        {
            switch (label)
            {
                case PrivateLabel:
                    ecdsa.ImportPkcs8PrivateKey(der, out _);
                    break;
                case PublicLabel:
                    ecdsa.ImportSubjectPublicKeyInfo(der, out _);
                    break;
                default:
                    throw new FormatException($"it holds a '{label}', not a '{PrivateLabel}' or a '{PublicLabel}'");
            }

            if (ecdsa.KeySize != 256)
            {
                throw new FormatException($"it holds a {ecdsa.KeySize}-bit key, not a P-256 one");
            }

            return new AuditKey(ecdsa, label == PrivateLabel);
        }
        catch (CryptographicException ex)
        {
            ecdsa.Dispose();
            throw new FormatException($"it holds no readable ECDSA key: {ex.Message}", ex);
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }
    }

    /// <summary>The private key as PEM (<c>PRIVATE KEY</c>, PKCS#8).</summary>
    /// <exception cref="InvalidOperationException">This is a public key.</exception>
    public string ExportPrivatePem() => CanSign
        ? PemEncoding.WriteString(PrivateLabel, _ecdsa.ExportPkcs8PrivateKey()) + "\n"
        : throw new InvalidOperationException("a public key has no private half to export");

    /// <summary>The public key as PEM (<c>PUBLIC KEY</c>, SubjectPublicKeyInfo).</summary>
    public string ExportPublicPem() => PemEncoding.WriteString(PublicLabel, _ecdsa.ExportSubjectPublicKeyInfo()) + "\n";

    /// <summary>Signs that <paramref name="hash"/> was the chain hash of <paramref name="position"/> at <paramref name="at"/>.</summary>
    /// <param name="label"><see cref="AuditCheckpoint.CheckpointLabel"/> or <see cref="AuditCheckpoint.AcceptanceLabel"/>.</param>
    /// <param name="position">The position covered.</param>
    /// <param name="hash">The chain hash of that position.</param>
    /// <param name="at">When.</param>
    /// <exception cref="InvalidOperationException">This is a public key.</exception>
    public AuditCheckpoint Sign(string label, long position, ReadOnlySpan<byte> hash, DateTimeOffset at)
    {
        if (!CanSign)
        {
            throw new InvalidOperationException("a public key cannot sign");
        }

        var signature = _ecdsa.SignData(AuditCheckpoint.SignedBytes(label, position, hash, at), HashAlgorithmName.SHA256);
        return new AuditCheckpoint(position, Convert.ToHexStringLower(hash), at, Id, Convert.ToBase64String(signature));
    }

    /// <summary>True when <paramref name="checkpoint"/> carries a signature of this key under <paramref name="label"/>.</summary>
    public bool Verify(AuditCheckpoint checkpoint, string label)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        byte[] hash;
        byte[] signature;
        try
        {
            hash = Convert.FromHexString(checkpoint.Hash);
            signature = Convert.FromBase64String(checkpoint.Signature);
        }
        catch (FormatException)
        {
            return false;
        }

        return hash.Length == EventChain.HashLength
            && _ecdsa.VerifyData(AuditCheckpoint.SignedBytes(label, checkpoint.Position, hash, checkpoint.At), signature, HashAlgorithmName.SHA256);
    }

    /// <summary>True when <paramref name="other"/> is this key or its other half.</summary>
    public bool IsPairOf(AuditKey other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return _ecdsa.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(other._ecdsa.ExportSubjectPublicKeyInfo());
    }

    /// <inheritdoc />
    public void Dispose() => _ecdsa.Dispose();
}
