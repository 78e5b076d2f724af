using MessagePack;
using MessagePack.Resolvers;
using Orleans.Storage;

namespace GenRec.Orleans;

/// <summary>
/// Stores grain state as MessagePack behind a 4-byte magic and a format version (Orleans' own MessagePack package is
/// not used: its state goes through this <see cref="IGrainStorageSerializer"/>). State written by another serializer
/// or by a newer format is refused with a clear error instead of being read as garbage.
/// </summary>
public sealed class MessagePackGrainStorageSerializer : IGrainStorageSerializer
{
    /// <summary>The format version written.</summary>
    public const byte FormatVersion = 1;

    private static readonly byte[] Magic = "GRST"u8.ToArray();

    /// <summary>The MessagePack options of GenRec's stored state (also the session store's members).</summary>
    internal static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(StandardResolverAllowPrivate.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData);

    /// <inheritdoc />
    public BinaryData Serialize<T>(T? input)
    {
        var body = MessagePackSerializer.Serialize(input, Options);
        var bytes = new byte[Magic.Length + 1 + body.Length];
        Magic.CopyTo(bytes, 0);
        bytes[Magic.Length] = FormatVersion;
        body.CopyTo(bytes, Magic.Length + 1);
        return new BinaryData(bytes);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">The stored bytes are not GenRec state of a format this version reads.</exception>
    public T Deserialize<T>(BinaryData input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var bytes = input.ToMemory();
        if (bytes.Length < Magic.Length + 1 || !bytes.Span[..Magic.Length].SequenceEqual(Magic))
        {
            throw new InvalidDataException($"The stored {typeof(T).Name} is not GenRec grain state (no GRST header): it was written by another serializer.");
        }

        var version = bytes.Span[Magic.Length];
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"The stored {typeof(T).Name} has GenRec state format version {version}; this silo reads version {FormatVersion}.");
        }

        try
        {
            return MessagePackSerializer.Deserialize<T>(bytes[(Magic.Length + 1)..], Options);
        }
        catch (MessagePackSerializationException e)
        {
            throw new InvalidDataException($"The stored {typeof(T).Name} is damaged: {e.Message}", e);
        }
    }
}
