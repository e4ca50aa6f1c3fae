namespace Apiary.Events;

/// <summary>
/// An event to append: its <paramref name="Type"/>, its audit skeleton <paramref name="Data"/> (JSON bytes that are kept
/// forever) and an optional <paramref name="Body"/> (purgeable content such as command output or message text).
/// </summary>
/// <param name="Type">What happened, such as <c>session.command-executed</c>.</param>
/// <param name="Data">The audit skeleton as UTF-8 JSON: who did what, decided how. Never purged.</param>
/// <param name="Body">Bulky or sensitive content; retention may delete it while its hash stays in the chain.</param>
public sealed record EventData(string Type, ReadOnlyMemory<byte> Data, ReadOnlyMemory<byte>? Body = null);
