using System.Buffers.Binary;
using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Apiary.Protocol;

/// <summary>
/// The wire format of the execution protocol. A frame is a 4-byte big-endian unsigned length followed by that many bytes
/// of UTF-8 JSON holding one <see cref="Command"/> or one <see cref="Observation"/>, serialized with
/// <see cref="ProtocolJsonContext"/>. Streams of frames are read by <see cref="FrameReader"/> and written by
/// <see cref="FrameWriter"/>; this class turns single messages into JSON or frames and back.
/// </summary>
/// <remarks>
/// Decoding never throws on bad input: it returns a <see cref="FrameResult{TMessage}"/> whose
/// <see cref="FrameResult{TMessage}.Failure"/> says what was wrong, so the receiver can answer with an
/// <see cref="ErrorObservation"/> and go on.
/// </remarks>
public static class FrameCodec
{
    /// <summary>The size of a frame's length prefix: 4 bytes, big-endian, unsigned.</summary>
    public const int LengthPrefixBytes = 4;

    /// <summary>The default largest frame, not counting its length prefix: 16 MiB.</summary>
    public const int DefaultMaxFrameBytes = 16 * 1024 * 1024;

    /// <summary>
    /// The default largest oversized frame a reader skips to reach the next one: 256 MiB. A longer length prefix is
    /// taken as a sign that the stream is not (or no longer) made of frames.
    /// </summary>
    public const long DefaultMaxDiscardBytes = 256L * 1024 * 1024;

    // Stricter than ProtocolJsonContext.Default: a null where the protocol wants a value, a missing positional field or a
    // repeated property makes a frame invalid instead of yielding a half-built message, and a repeated property cannot
    // mean one thing to this reader and another to a peer's.
    private static readonly ProtocolJsonContext Strict = new(new JsonSerializerOptions(ProtocolJsonContext.Default.Options)
    {
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
    });

    /// <summary>How commands are decoded and checked.</summary>
    internal static MessageKind<Command> Commands { get; } = new("command", Strict.Command, c => c.RequestId, WithInitialValues, ValidateCommand);

    /// <summary>How observations are decoded and checked.</summary>
    internal static MessageKind<Observation> Observations { get; } = new("observation", Strict.Observation, o => o.RequestId, WithInitialValues, ValidateObservation);

    /// <summary>The wire names (<c>type</c> values) of every command.</summary>
    public static IReadOnlySet<string> CommandTypes => Commands.TypeNames;

    /// <summary>The wire names (<c>type</c> values) of every observation.</summary>
    public static IReadOnlySet<string> ObservationTypes => Observations.TypeNames;

    /// <summary>Serializes a command to compact JSON text, exactly as it travels in a frame.</summary>
    /// <exception cref="ApiaryException">The command cannot be serialized, such as a required field that is null.</exception>
    public static string Serialize(Command command) => Encoding.UTF8.GetString(SerializeToUtf8Bytes(command));

    /// <summary>Serializes an observation to compact JSON text, exactly as it travels in a frame.</summary>
    /// <exception cref="ApiaryException">The observation cannot be serialized, such as a required field that is null.</exception>
    public static string Serialize(Observation observation) => Encoding.UTF8.GetString(SerializeToUtf8Bytes(observation));

    /// <summary>Serializes a command to the UTF-8 JSON of a frame's body.</summary>
    /// <exception cref="ApiaryException">The command cannot be serialized, such as a required field that is null.</exception>
    public static byte[] SerializeToUtf8Bytes(Command command) => Commands.Serialize(command);

    /// <summary>Serializes an observation to the UTF-8 JSON of a frame's body.</summary>
    /// <exception cref="ApiaryException">The observation cannot be serialized, such as a required field that is null.</exception>
    public static byte[] SerializeToUtf8Bytes(Observation observation) => Observations.Serialize(observation);

    /// <summary>Reads a command from JSON text; never throws on bad JSON.</summary>
    public static FrameResult<Command> DeserializeCommand(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Commands.Decode(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Reads an observation from JSON text; never throws on bad JSON.</summary>
    public static FrameResult<Observation> DeserializeObservation(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Observations.Decode(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Reads a command from a frame's body (UTF-8 JSON, without the length prefix); never throws on bad input.</summary>
    public static FrameResult<Command> DecodeCommand(ReadOnlySpan<byte> utf8Json) => Commands.Decode(utf8Json);

    /// <summary>Reads an observation from a frame's body (UTF-8 JSON, without the length prefix); never throws on bad input.</summary>
    public static FrameResult<Observation> DecodeObservation(ReadOnlySpan<byte> utf8Json) => Observations.Decode(utf8Json);

    /// <summary>Builds a whole frame for a command: the length prefix, then the JSON.</summary>
    /// <exception cref="ApiaryException">The command cannot be serialized.</exception>
    public static byte[] EncodeFrame(Command command) => WithLengthPrefix(SerializeToUtf8Bytes(command));

    /// <summary>Builds a whole frame for an observation: the length prefix, then the JSON.</summary>
    /// <exception cref="ApiaryException">The observation cannot be serialized.</exception>
    public static byte[] EncodeFrame(Observation observation) => WithLengthPrefix(SerializeToUtf8Bytes(observation));

    internal static byte[] WithLengthPrefix(ReadOnlySpan<byte> body)
    {
        var frame = GC.AllocateUninitializedArray<byte>(LengthPrefixBytes + body.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame.AsSpan(LengthPrefixBytes));
        return frame;
    }

    // The source-generated serializer gives a field a frame leaves out null or 0, not the initial value its record
    // declares (https://github.com/dotnet/runtime/issues/84484): put those back. A null can only mean "left out", since
    // the strict options refuse explicit nulls; a 0 could be sent on purpose, so for max_bytes the frame is consulted.
    // FrameCodecRoundTripTests.Deserialize_OnlyRequiredFields_GivesTheRecordsInitialValues finds any type missed here.
    private static Command WithInitialValues(Command command, ReadOnlySpan<byte> utf8Json) => command switch
    {
        ExecCommand exec when exec.Args is null || exec.Env is null || exec.Secrets is null => InitialValuesOf(exec),
        ReadFileCommand read when !HasTopLevelProperty(utf8Json, "max_bytes"u8) =>
            read with { MaxBytes = new ReadFileCommand { RequestId = read.RequestId, Path = read.Path }.MaxBytes },
        ListDirCommand list when list.Path is null => list with { Path = new ListDirCommand { RequestId = list.RequestId }.Path },
        _ => command,
    };

    private static Observation WithInitialValues(Observation observation, ReadOnlySpan<byte> utf8Json) => observation switch
    {
        ReadyObservation ready when ready.Capabilities is null =>
            ready with { Capabilities = new ReadyObservation { ProtocolVersion = 0, AgentVersion = "" }.Capabilities },
        _ => observation,
    };

    private static ExecCommand InitialValuesOf(ExecCommand exec)
    {
        var initial = new ExecCommand { RequestId = exec.RequestId, Command = exec.Command };
        return exec with { Args = exec.Args ?? initial.Args, Env = exec.Env ?? initial.Env, Secrets = exec.Secrets ?? initial.Secrets };
    }

    /// <summary>Whether valid JSON holding one object has <paramref name="name"/> among its top-level properties.</summary>
    private static bool HasTopLevelProperty(ReadOnlySpan<byte> utf8Json, ReadOnlySpan<byte> name)
    {
        var reader = new Utf8JsonReader(utf8Json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(name))
            {
                return true;
            }

            reader.Read();
            reader.Skip();
        }

        return false;
    }

    // Collections can hold nulls that nullable annotations do not cover; a peer must never receive them as values.
    private static string? ValidateCommand(Command command) => command switch
    {
        ExecCommand exec when exec.Args.Any(a => a is null) => "'args' must not contain null",
        ExecCommand exec when exec.Secrets.Any(s => s is null) => "'secrets' must not contain null",
        ExecCommand exec when exec.Env.Values.Any(v => v is null) => "'env' values must not be null",
        _ => null,
    };

    private static string? ValidateObservation(Observation observation) => observation switch
    {
        ReadyObservation ready when ready.Capabilities.Any(c => c is null) => "'capabilities' must not contain null",
        DirListingObservation listing when listing.Entries.Any(e => e?.Name is null) => "'entries' must not contain null or nameless entries",
        _ => null,
    };
}

/// <summary>Limits of a <see cref="FrameReader"/> or a <see cref="FrameWriter"/>. Both ends of a connection should agree.</summary>
public sealed record FrameCodecOptions
{
    private const int MaxMaxFrameBytes = 1024 * 1024 * 1024;

    /// <summary>The defaults: 16 MiB frames, oversized frames skipped up to 256 MiB.</summary>
    public static FrameCodecOptions Default { get; } = new();

    /// <summary>
    /// The largest frame, in bytes of JSON (not counting the length prefix), that is read or written. Default 16 MiB
    /// (<see cref="FrameCodec.DefaultMaxFrameBytes"/>); at most 1 GiB.
    /// </summary>
    public int MaxFrameBytes { get; init; } = FrameCodec.DefaultMaxFrameBytes;

    /// <summary>
    /// The largest oversized frame a reader skips, a bounded chunk at a time and never holding it in memory, to go on
    /// with the next frame. A frame announced as longer ends the reading: the stream cannot be resynchronized. Default
    /// 256 MiB (<see cref="FrameCodec.DefaultMaxDiscardBytes"/>); 0 never skips.
    /// </summary>
    public long MaxDiscardBytes { get; init; } = FrameCodec.DefaultMaxDiscardBytes;

    /// <summary>Throws when a limit is out of range, naming the fix.</summary>
    internal void Validate()
    {
        if (MaxFrameBytes is < 2 or > MaxMaxFrameBytes)
        {
            throw new ArgumentOutOfRangeException(
                nameof(MaxFrameBytes), MaxFrameBytes, $"{nameof(MaxFrameBytes)} must be between 2 and {MaxMaxFrameBytes} (1 GiB); the default is {FrameCodec.DefaultMaxFrameBytes}.");
        }

        if (MaxDiscardBytes < 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(MaxDiscardBytes), MaxDiscardBytes, $"{nameof(MaxDiscardBytes)} must be 0 (never skip) or more; the default is {FrameCodec.DefaultMaxDiscardBytes}.");
        }
    }
}

/// <summary>
/// What reading or decoding one frame gave: exactly one of a message, a <see cref="FrameFailure"/> to answer with an
/// error, or the clean end of the stream.
/// </summary>
/// <typeparam name="TMessage"><see cref="Command"/> or <see cref="Observation"/>.</typeparam>
public sealed record FrameResult<TMessage>
    where TMessage : class
{
    private FrameResult(TMessage? message, FrameFailure? failure)
    {
        Message = message;
        Failure = failure;
    }

    /// <summary>The decoded message; null unless <see cref="IsMessage"/>.</summary>
    public TMessage? Message { get; }

    /// <summary>Why the frame could not be read; null unless <see cref="IsFailure"/>.</summary>
    public FrameFailure? Failure { get; }

    /// <summary>True when a message was decoded.</summary>
    [MemberNotNullWhen(true, nameof(Message))]
    public bool IsMessage => Message is not null;

    /// <summary>True when the frame was bad or the stream ended inside one.</summary>
    [MemberNotNullWhen(true, nameof(Failure))]
    public bool IsFailure => Failure is not null;

    /// <summary>True when the stream ended cleanly, between two frames: nothing more will come.</summary>
    public bool IsEndOfStream => Message is null && Failure is null;

    internal static FrameResult<TMessage> EndOfStream { get; } = new(null, null);

    internal static FrameResult<TMessage> Of(TMessage message) => new(message, null);

    internal static FrameResult<TMessage> Of(FrameFailure failure) => new(null, failure);
}

/// <summary>What kind of bad frame was met.</summary>
public enum FrameFailureKind
{
    /// <summary>The frame is not UTF-8 JSON (an empty frame, a syntax error, invalid UTF-8, trailing data). Code <c>bad_frame</c>.</summary>
    MalformedJson,

    /// <summary>The JSON is not an object with a string <c>type</c>. Code <c>bad_frame</c>.</summary>
    MissingType,

    /// <summary>The <c>type</c> names no message of this direction. Code <c>unknown_type</c>.</summary>
    UnknownType,

    /// <summary>The type is known but a field is missing, null, repeated or of the wrong kind. Code <c>bad_frame</c>.</summary>
    InvalidFields,

    /// <summary>The length prefix is over the limit; the frame was skipped unread, or could not be. Code <c>frame_too_large</c>.</summary>
    TooLarge,

    /// <summary>The stream ended inside a frame (its length prefix or its body). Code <c>bad_frame</c>.</summary>
    Truncated,
}

/// <summary>Why a frame could not be read, with what an <see cref="ErrorObservation"/> about it needs.</summary>
public sealed record FrameFailure
{
    /// <summary>What was wrong.</summary>
    public required FrameFailureKind Kind { get; init; }

    /// <summary>What was wrong, for people.</summary>
    public required string Message { get; init; }

    /// <summary>The request id of the bad frame, when its JSON could be read far enough to find one.</summary>
    public string? RequestId { get; init; }

    /// <summary>The frame's length as its prefix announced it, when the prefix was read.</summary>
    public long? FrameLength { get; init; }

    /// <summary>
    /// True when the reader is still at a frame boundary and can read the next frame; false when the stream ended or
    /// cannot be resynchronized, after which the reader reports the end of the stream.
    /// </summary>
    public bool CanContinue { get; init; }

    /// <summary>The error code for an <see cref="ErrorObservation"/>: <c>bad_frame</c>, <c>frame_too_large</c> or <c>unknown_type</c>.</summary>
    public string Code => Kind switch
    {
        FrameFailureKind.UnknownType => ProtocolErrorCodes.UnknownType,
        FrameFailureKind.TooLarge => ProtocolErrorCodes.FrameTooLarge,
        _ => ProtocolErrorCodes.BadFrame,
    };

    /// <summary>The error to answer with; give it its sequence number when sending it (<see cref="FrameWriter.WriteSequencedAsync"/>).</summary>
    public ErrorObservation ToErrorObservation() => new() { RequestId = RequestId, Code = Code, Message = Message };
}

/// <summary>The error codes of <see cref="ErrorObservation.Code"/> defined by protocol version 1 (see <c>docs/protocol.md</c>).</summary>
public static class ProtocolErrorCodes
{
    /// <summary>A frame could not be read: not JSON, no <c>type</c>, a field missing or invalid, or cut short.</summary>
    public const string BadFrame = "bad_frame";

    /// <summary>A frame's length prefix is over the receiver's limit.</summary>
    public const string FrameTooLarge = "frame_too_large";

    /// <summary>A frame's <c>type</c> is not a command this backend knows or handles.</summary>
    public const string UnknownType = "unknown_type";

    /// <summary>A command reuses the request id of a command still in flight.</summary>
    public const string DuplicateRequest = "duplicate_request";

    /// <summary>A <see cref="CancelCommand"/> names no running command.</summary>
    public const string UnknownRequest = "unknown_request";

    /// <summary>The session or backend is closing or closed and takes no more commands.</summary>
    public const string SessionClosed = "session_closed";

    /// <summary>An exec's program is empty or otherwise not runnable as given.</summary>
    public const string InvalidCommand = "invalid_command";

    /// <summary>An environment variable name is not <c>[A-Za-z_][A-Za-z0-9_]*</c>.</summary>
    public const string InvalidEnv = "invalid_env";

    /// <summary>An exec asks for a secret the secret store does not have.</summary>
    public const string UnknownSecret = "unknown_secret";

    /// <summary>The program could not be started.</summary>
    public const string StartFailed = "start_failed";

    /// <summary>A path is not inside the workspace (absolute elsewhere, <c>..</c> out of it, through a link out of it).</summary>
    public const string InvalidPath = "invalid_path";

    /// <summary>A path does not exist.</summary>
    public const string NotFound = "not_found";

    /// <summary>A part of a path that must be a folder is not one.</summary>
    public const string NotADirectory = "not_a_directory";

    /// <summary>A path that must be a file is a folder.</summary>
    public const string IsADirectory = "is_a_directory";

    /// <summary>The backend is not allowed to access a path.</summary>
    public const string PermissionDenied = "permission_denied";

    /// <summary>The backend cannot do this here (a missing capability or kernel feature).</summary>
    public const string Unsupported = "unsupported";

    /// <summary>Another input or output failure.</summary>
    public const string IoError = "io_error";
}

/// <summary>One direction of the protocol: how its messages are serialized, decoded and checked.</summary>
internal sealed class MessageKind<TMessage>
    where TMessage : class
{
    private const int MaxRecoveredRequestIdChars = 1024;
    private const int MaxEchoedChars = 64;
    private const int MaxErrorMessageChars = 512;

    private readonly JsonTypeInfo<TMessage> _typeInfo;
    private readonly Func<TMessage, string?> _requestIdOf;
    private readonly Func<TMessage, ReadOnlySpan<byte>, TMessage> _withInitialValues;
    private readonly Func<TMessage, string?> _validate;

    // Per message type, the fields that must not be null. The serializer leaves null fields out instead of refusing
    // them, which would send a frame every peer rejects, so they are checked before writing.
    private readonly FrozenDictionary<Type, JsonPropertyInfo[]> _notNullable;

    public MessageKind(
        string noun,
        JsonTypeInfo<TMessage> typeInfo,
        Func<TMessage, string?> requestIdOf,
        Func<TMessage, ReadOnlySpan<byte>, TMessage> withInitialValues,
        Func<TMessage, string?> validate)
    {
        Noun = noun;
        _typeInfo = typeInfo;
        _requestIdOf = requestIdOf;
        _withInitialValues = withInitialValues;
        _validate = validate;
        var derivedTypes = typeInfo.PolymorphismOptions?.DerivedTypes ?? [];
        TypeNames = derivedTypes.Select(d => d.TypeDiscriminator as string).OfType<string>().ToFrozenSet(StringComparer.Ordinal);
        _notNullable = derivedTypes.ToFrozenDictionary(
            d => d.DerivedType,
            d => typeInfo.Options.GetTypeInfo(d.DerivedType).Properties.Where(p => !p.PropertyType.IsValueType && !p.IsGetNullable && p.Get is not null).ToArray());
    }

    /// <summary>"command" or "observation", for messages.</summary>
    public string Noun { get; }

    public FrozenSet<string> TypeNames { get; }

    public byte[] Serialize(TMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Problem(message) is { } problem)
        {
            throw new ApiaryException($"The {Noun} {message.GetType().Name} cannot be sent: {problem}.");
        }

        try
        {
            return JsonSerializer.SerializeToUtf8Bytes(message, _typeInfo);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new ApiaryException($"The {Noun} {message.GetType().Name} cannot be serialized: {ex.Message}", ex);
        }
    }

    private string? Problem(TMessage message)
    {
        if (_notNullable.TryGetValue(message.GetType(), out var properties))
        {
            foreach (var property in properties)
            {
                if (property.Get!(message) is null)
                {
                    return $"'{property.Name}' is null";
                }
            }
        }

        return _validate(message);
    }

    public FrameResult<TMessage> Decode(ReadOnlySpan<byte> utf8Json)
    {
        TMessage? message = null;
        Exception? error = null;
        try
        {
            message = JsonSerializer.Deserialize(utf8Json, _typeInfo);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // Bad input is an expected outcome here, whatever part of the serializer noticed it.
            error = ex;
        }

        if (message is not null)
        {
            message = _withInitialValues(message, utf8Json);
            return _validate(message) is { } problem
                ? Failed(FrameFailureKind.InvalidFields, $"Not a valid {Noun}: {problem}.", _requestIdOf(message) is { Length: <= MaxRecoveredRequestIdChars } id ? id : null)
                : FrameResult<TMessage>.Of(message);
        }

        return Diagnose(utf8Json, error);
    }

    /// <summary>
    /// Tells why a frame failed to deserialize, by a second, shallow look at its top level: not JSON, not an object with
    /// a string type, an unknown type, or a known type with bad fields. It also recovers the request id when there is one.
    /// </summary>
    private FrameResult<TMessage> Diagnose(ReadOnlySpan<byte> utf8Json, Exception? error)
    {
        if (utf8Json.IsEmpty)
        {
            return Failed(FrameFailureKind.MalformedJson, "The frame is empty; it must hold one JSON object.", null);
        }

        var reader = new Utf8JsonReader(utf8Json);
        var isObject = false;
        string? type = null;
        string? requestId = null;
        try
        {
            reader.Read();
            isObject = reader.TokenType == JsonTokenType.StartObject;
            if (isObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isType = reader.ValueTextEquals("type"u8);
                    var isRequestId = !isType && reader.ValueTextEquals("request_id"u8);
                    reader.Read();
                    if (isType)
                    {
                        type = reader.TokenType == JsonTokenType.String ? StringOrNull(ref reader, int.MaxValue) : null;
                    }
                    else if (isRequestId && requestId is null && reader.TokenType == JsonTokenType.String)
                    {
                        requestId = StringOrNull(ref reader, MaxRecoveredRequestIdChars);
                    }

                    reader.Skip();
                }
            }
            else
            {
                reader.Skip();
            }

            // Anything but whitespace after the value makes the reader throw.
            reader.Read();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: an escaped lone surrogate ("\ud800") in a property name cannot be compared.
            return Failed(FrameFailureKind.MalformedJson, $"The frame is not valid JSON: {Bounded(ex.Message, MaxErrorMessageChars)}", requestId);
        }

        if (!isObject)
        {
            return Failed(FrameFailureKind.MissingType, $"The frame must be a JSON object with a string 'type', not {reader.TokenType switch
            {
                JsonTokenType.StartArray or JsonTokenType.EndArray => "an array",
                JsonTokenType.String => "a string",
                JsonTokenType.Number => "a number",
                JsonTokenType.True or JsonTokenType.False => "a boolean",
                _ => "null",
            }}.", null);
        }

        if (type is null)
        {
            return Failed(FrameFailureKind.MissingType, "The frame has no string 'type'.", requestId);
        }

        if (!TypeNames.Contains(type))
        {
            return Failed(
                FrameFailureKind.UnknownType,
                $"'{Bounded(type, MaxEchoedChars)}' is not a {Noun} type; known types are {string.Join(", ", TypeNames.Order(StringComparer.Ordinal))}.",
                requestId);
        }

        var detail = error is null ? "it decoded to nothing" : Bounded(error.Message, MaxErrorMessageChars);
        return Failed(FrameFailureKind.InvalidFields, $"Not a valid '{type}' {Noun}: {detail}", requestId);
    }

    private static string? StringOrNull(ref Utf8JsonReader reader, int maxChars)
    {
        // The raw (escaped) text is at least as long as the string it holds, in UTF-8 bytes, and a char is at most 6 raw bytes.
        if (reader.ValueSpan.Length > maxChars * 6L || (reader.HasValueSequence && reader.ValueSequence.Length > maxChars * 6L))
        {
            return null;
        }

        try
        {
            var text = reader.GetString();
            return text is not null && text.Length <= maxChars ? text : null;
        }
        catch (InvalidOperationException)
        {
            // Invalid UTF-8 or a lone surrogate escape: no id that could be echoed back safely.
            return null;
        }
    }

    private static string Bounded(string text, int maxChars)
    {
        if (text.Length <= maxChars)
        {
            return text;
        }

        // Never cut a surrogate pair in half: a lone surrogate cannot be written back as JSON.
        var cut = char.IsHighSurrogate(text[maxChars - 1]) ? maxChars - 1 : maxChars;
        return string.Concat(text.AsSpan(0, cut), "…");
    }

    private static FrameResult<TMessage> Failed(FrameFailureKind kind, string message, string? requestId) =>
        FrameResult<TMessage>.Of(new FrameFailure { Kind = kind, Message = message, RequestId = requestId, CanContinue = true });
}
