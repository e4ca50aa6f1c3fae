using System.Globalization;
using System.Text.Json;

namespace Apiary.Events;

/// <summary>
/// Checks an event log against everything that anchors it: the hash chain, every signed checkpoint recorded in the log, the
/// newest checkpoint kept outside it (<see cref="AuditFiles"/>), and the recorded purges that explain missing bodies. It finds
/// an event edited in place (a broken link), events edited with every later hash recomputed (a checkpoint whose signed hash
/// the chain no longer has), events cut off the end (the log ends before the newest checkpoint's position), a body removed
/// without a purge, and a forged checkpoint or a replaced key.
/// </summary>
public static class AuditVerifier
{
    /// <summary>Checks the whole log: what <c>apiary audit verify</c> reports.</summary>
    /// <param name="store">The log, or null when there is none (its file does not exist): then it counts as empty.</param>
    /// <param name="files">The home's audit files: the public key and the newest checkpoint.</param>
    /// <param name="cancellationToken">Stops the check.</param>
    public static async Task<AuditReport> VerifyAsync(IEventStore? store, AuditFiles files, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        var anchor = await AuditAnchor.LoadAsync(files, cancellationToken).ConfigureAwait(false);
        using (anchor)
        {
            return await VerifyAllAsync(store, anchor, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Checks only what a server must check before it serves the log: the newest checkpoint's signature, that the log still
    /// has its hash at its position, and the chain (links, bodies) from there to the end. Events before the checkpoint are
    /// covered by its hash. Without a checkpoint file, the whole log is checked.
    /// </summary>
    public static async Task<AuditReport> VerifyTailAsync(IEventStore store, AuditFiles files, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(files);
        var anchor = await AuditAnchor.LoadAsync(files, cancellationToken).ConfigureAwait(false);
        using (anchor)
        {
            if (anchor.Head is not { Position: > 0 } head)
            {
                return await VerifyAllAsync(store, anchor, cancellationToken).ConfigureAwait(false);
            }

            // The tail is short (what came after the newest checkpoint), so it is read twice rather than held: first for the
            // audit events that speak about it, then to check it.
            var walk = new AuditWalk(anchor, head.Position, tail: true);
            await foreach (var e in store.ReadAllAsync(head.Position, cancellationToken).ConfigureAwait(false))
            {
                if (e.Stream == AuditEvents.Stream)
                {
                    walk.AddRecord(e);
                }
            }

            await foreach (var e in store.ReadAllAsync(head.Position, cancellationToken).ConfigureAwait(false))
            {
                walk.Visit(e);
            }

            if (walk.Events == 0)
            {
                walk.EndsAt(await LastPositionBeforeAsync(store, head.Position, cancellationToken).ConfigureAwait(false));
            }

            return walk.Finish();
        }
    }

    /// <summary>The last position of a log that has no event at <paramref name="position"/>, by bisection.</summary>
    private static async Task<long> LastPositionBeforeAsync(IEventStore store, long position, CancellationToken cancellationToken)
    {
        long low = 0;
        var high = position;
        while (high - low > 1)
        {
            var middle = low + ((high - low) / 2);
            var any = false;
            await foreach (var unused in store.ReadAllAsync(middle, cancellationToken).ConfigureAwait(false))
            {
                any = true;
                break;
            }

            (low, high) = any ? (middle, high) : (low, middle);
        }

        return low;
    }

    private static async Task<AuditReport> VerifyAllAsync(IEventStore? store, AuditAnchor anchor, CancellationToken cancellationToken)
    {
        var walk = new AuditWalk(anchor, 1, tail: false);
        if (store is not null)
        {
            await foreach (var e in store.ReadStreamAsync(AuditEvents.Stream, 1, cancellationToken).ConfigureAwait(false))
            {
                walk.AddRecord(e);
            }

            await foreach (var e in store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
            {
                walk.Visit(e);
            }
        }

        return walk.Finish();
    }
}

/// <summary>The public key and the newest checkpoint as read from a home, with what could not be read.</summary>
internal sealed class AuditAnchor : IDisposable
{
    private AuditAnchor(AuditFiles files, AuditKey? key, AuditCheckpoint? head, List<AuditProblem> problems, bool keyUnreadable)
    {
        Files = files;
        Key = key;
        Head = head;
        Problems = problems;
        KeyUnreadable = keyUnreadable;
    }

    public AuditFiles Files { get; }

    public AuditKey? Key { get; }

    public AuditCheckpoint? Head { get; }

    /// <summary>Files that exist but cannot be read.</summary>
    public List<AuditProblem> Problems { get; }

    /// <summary>True when the public key's file exists but cannot be read (already among <see cref="Problems"/>).</summary>
    public bool KeyUnreadable { get; }

    public static async Task<AuditAnchor> LoadAsync(AuditFiles files, CancellationToken cancellationToken)
    {
        var problems = new List<AuditProblem>();
        AuditKey? key = null;
        AuditCheckpoint? head = null;
        var keyUnreadable = false;
        try
        {
            key = await files.ReadPublicKeyAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
        {
            keyUnreadable = true;
            problems.Add(new AuditProblem(AuditProblemKind.Unanchored, null, null,
                $"{files.PublicKeyName} cannot be read ({ex.Message}), so no checkpoint can be checked; restore it from a backup"));
        }

        try
        {
            head = await files.ReadHeadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
        {
            problems.Add(new AuditProblem(AuditProblemKind.Unanchored, null, null,
                $"{AuditFiles.HeadName} cannot be read ({ex.Message}), so events cut off the end of the log cannot be found; restore it from a backup"));
        }

        return new AuditAnchor(files, key, head, problems, keyUnreadable);
    }

    public void Dispose() => Key?.Dispose();
}

/// <summary>One pass over the log (or its tail), after the audit events that speak about it were added.</summary>
internal sealed class AuditWalk
{
    private const int MaxProblems = 1000;

    private readonly AuditAnchor _anchor;
    private readonly bool _tail;
    private readonly long _covered;
    private readonly Dictionary<long, List<Statement>> _claims = [];
    private readonly List<Purge> _purges = [];
    private readonly List<AuditProblem> _problems = [];
    private readonly List<AuditAcceptance> _accepted = [];
    private long _moreProblems;
    private int _checkpointRecords;
    private int _held;
    private long _expected;
    private ReadOnlyMemory<byte>? _previous;
    private long _lastHolding;
    private bool _failing;
    private long _events;
    private long _uncovered;
    private long _last;
    private ReadOnlyMemory<byte> _lastHash = EventChain.ZeroHash;

    /// <param name="anchor">The key and the newest checkpoint.</param>
    /// <param name="from">The first position to check: 1, or the newest checkpoint's position for the tail.</param>
    /// <param name="tail">True when only the tail is checked, so nothing before <paramref name="from"/> is known.</param>
    public AuditWalk(AuditAnchor anchor, long from, bool tail)
    {
        _anchor = anchor;
        _tail = tail;
        _expected = from;
        _previous = tail ? (ReadOnlyMemory<byte>?)null : EventChain.ZeroHash;
        _lastHolding = from - 1;
        _problems.AddRange(anchor.Problems);
        if (anchor.Head is { } head && anchor.Key is { } key)
        {
            var source = $"the newest checkpoint ({AuditFiles.HeadName}, signed {Time(head.At)})";
            if (Signed(head, AuditCheckpoint.CheckpointLabel, null, $"the checkpoint in {AuditFiles.HeadName} (covering position {head.Position})"))
            {
                Claim(new Statement(head, source, null, InLog: false));
                _covered = head.Position;
            }
        }
    }

    /// <summary>Takes in an event of stream <c>audit</c>: a checkpoint, a purge or an acceptance.</summary>
    public void AddRecord(RecordedEvent e)
    {
        switch (e.Type)
        {
            case AuditEvents.Checkpoint:
                _checkpointRecords++;
                if (Read(e, CoreJsonContext.Default.AuditCheckpoint) is not { Hash: not null, Key: not null, Signature: not null } checkpoint)
                {
                    Add(AuditProblemKind.BadSignature, e.Position, null, "this checkpoint event's data is not a checkpoint");
                }
                else if (Covers(e, checkpoint) && Signed(checkpoint, AuditCheckpoint.CheckpointLabel, e.Position, $"the checkpoint recorded at position {e.Position} (covering position {checkpoint.Position})"))
                {
                    Claim(new Statement(checkpoint, $"the checkpoint recorded at position {e.Position} (signed {Time(checkpoint.At)})", null, InLog: true));
                }

                break;
            case AuditEvents.BodiesPurged when Read(e, CoreJsonContext.Default.BodiesPurgedData) is { } purge:
                _purges.Add(new Purge(e.Position, purge.Before.UtcTicks, purge.Types is null ? null : new HashSet<string>(purge.Types, StringComparer.Ordinal)));
                break;
            case AuditEvents.DamageAccepted:
                if (Read(e, CoreJsonContext.Default.DamageAcceptedData) is not { Anchor: { Hash: not null, Key: not null, Signature: not null } anchor } accepted)
                {
                    Add(AuditProblemKind.BadSignature, e.Position, null, "this acceptance event's data is not an acceptance");
                }
                else if (Covers(e, anchor) && Signed(anchor, AuditCheckpoint.AcceptanceLabel, e.Position, $"the acceptance of damage recorded at position {e.Position}"))
                {
                    var acceptance = new AuditAcceptance(e.Position, anchor.Position, accepted.By ?? "", accepted.At, accepted.Problems ?? []);
                    Claim(new Statement(anchor, $"the acceptance of damage recorded at position {e.Position}", acceptance, InLog: true));
                }

                break;
        }
    }

    /// <summary>Checks the next event of the log.</summary>
    public void Visit(RecordedEvent e)
    {
        _events++;
        if (EventChain.Check(e, _expected, (_previous ?? e.PreviousHash).Span) is { } broken)
        {
            Add(AuditProblemKind.BrokenLink, e.Position, null, broken);
        }

        _expected = e.Position + 1;
        _previous = e.Hash;
        if (_claims.Remove(e.Position, out var claims))
        {
            foreach (var claim in claims)
            {
                Compare(e, claim);
            }
        }

        if (e.Body is null && !e.BodyHash.Span.SequenceEqual(EventChain.ZeroHash.Span) && !IsPurged(e))
        {
            Add(AuditProblemKind.BodyRemoved, e.Position, null,
                $"the body of this {e.Type} (committed {Time(e.Timestamp)}) is gone, but no purge recorded after it ({AuditEvents.BodiesPurged}) covers it: it was removed behind the store's back");
        }

        if (e.Position > _covered && !AuditEvents.IsCheckpoint(e))
        {
            _uncovered++;
        }

        _last = e.Position;
        _lastHash = e.Hash;
    }

    /// <summary>How many events were checked so far.</summary>
    public long Events => _events;

    /// <summary>Tells a tail pass that found no event where the log ends: at <paramref name="position"/>, before the tail.</summary>
    public void EndsAt(long position) => _last = position;

    /// <summary>What the pass found.</summary>
    public AuditReport Finish()
    {
        foreach (var (position, claims) in _claims.Where(c => c.Key > _last).OrderBy(c => c.Key))
        {
            var claim = claims[0];
            Add(AuditProblemKind.CutTail, _last + 1, position,
                $"the log ends at position {_last}, but {claim.Source} covers position {position}: events {_last + 1} to {position} were cut off, or the log was replaced by an older copy");
            break;
        }

        if (_anchor.Head is null && _checkpointRecords > 0)
        {
            Add(AuditProblemKind.Unanchored, null, null,
                $"{AuditFiles.HeadName} is missing, but the log has {_checkpointRecords} signed checkpoint{(_checkpointRecords == 1 ? "" : "s")}: without the newest one outside the log, events cut off its end cannot be found; restore it from a backup");
        }

        if (_anchor.Key is null && (_anchor.Head is not null || _checkpointRecords > 0) && !_anchor.KeyUnreadable)
        {
            Add(AuditProblemKind.Unanchored, null, null,
                $"{_anchor.Files.PublicKeyName} is missing, so no checkpoint can be checked; restore it from a backup, or verify with a copy kept elsewhere (--public-key)");
        }

        var acceptedThrough = _accepted.Count == 0 ? 0 : _accepted.Max(a => a.Through);
        var problems = _problems
            .Where(p => p.Position is null || (p.Through ?? p.Position) > acceptedThrough)
            .OrderBy(p => p.Position ?? long.MaxValue)
            .ToList();
        return new AuditReport(
            _events,
            _held,
            _anchor.Key?.Id,
            _anchor.Head,
            problems,
            _moreProblems,
            _accepted,
            new AuditTail(_last, _lastHash, _covered, _uncovered));
    }

    private void Compare(RecordedEvent e, Statement claim)
    {
        if (claim.Checkpoint.HasHash(e.Hash.Span))
        {
            _lastHolding = e.Position;
            _failing = false;
            if (claim.InLog && claim.Acceptance is null)
            {
                _held++;
            }

            if (claim.Acceptance is { } acceptance)
            {
                _accepted.Add(acceptance);
            }

            return;
        }

        // One problem for a run of failing checkpoints: they all fail because of the same rewrite.
        if (!_failing)
        {
            if (_tail)
            {
                Add(AuditProblemKind.Rewritten, e.Position, null,
                    $"the chain does not have the hash signed in {claim.Source} at this position: an event at or before it was changed and the later hashes recomputed ('apiary audit verify' names the range)");
            }
            else
            {
                Add(AuditProblemKind.Rewritten, _lastHolding + 1, e.Position,
                    $"the chain links, but position {e.Position} does not have the hash signed in {claim.Source}: an event from position {_lastHolding + 1} on was changed and every later hash recomputed");
            }
        }

        _failing = true;
    }

    private bool IsPurged(RecordedEvent e)
    {
        foreach (var purge in _purges)
        {
            if (purge.Position > e.Position && e.Timestamp.UtcTicks < purge.BeforeTicks && (purge.Types is null || purge.Types.Contains(e.Type)))
            {
                return true;
            }
        }

        return false;
    }

    private bool Covers(RecordedEvent e, AuditCheckpoint checkpoint)
    {
        if (checkpoint.Position >= 0 && checkpoint.Position < e.Position)
        {
            return true;
        }

        Add(AuditProblemKind.BadSignature, e.Position, null, $"it claims position {checkpoint.Position}, which is not before its own");
        return false;
    }

    /// <summary>True when <paramref name="checkpoint"/> verifies; else reports it (at <paramref name="position"/>) and returns false.</summary>
    private bool Signed(AuditCheckpoint checkpoint, string label, long? position, string what)
    {
        if (_anchor.Key is not { } key)
        {
            return false;
        }

        if (key.Verify(checkpoint, label))
        {
            return true;
        }

        Add(AuditProblemKind.BadSignature, position, null, checkpoint.Key == key.Id
            ? $"{what} does not verify with {_anchor.Files.PublicKeyName} (key {key.Id}): it was forged or altered"
            : $"{what} is signed by key {checkpoint.Key}, but {_anchor.Files.PublicKeyName} is key {key.Id}: the key was replaced, or the checkpoint forged");
        return false;
    }

    private void Claim(Statement claim)
    {
        if (!_claims.TryGetValue(claim.Checkpoint.Position, out var claims))
        {
            _claims[claim.Checkpoint.Position] = claims = [];
        }

        claims.Add(claim);
    }

    private void Add(AuditProblemKind kind, long? position, long? through, string reason)
    {
        if (_problems.Count >= MaxProblems)
        {
            _moreProblems++;
            return;
        }

        _problems.Add(new AuditProblem(kind, position, through, reason));
    }

    private static T? Read<T>(RecordedEvent e, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(e.Data.Span, info);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>A signed statement about the hash of <see cref="AuditCheckpoint.Position"/>, and where it comes from.</summary>
    private sealed record Statement(AuditCheckpoint Checkpoint, string Source, AuditAcceptance? Acceptance, bool InLog);

    /// <summary>A recorded purge: bodies of events before <see cref="Position"/> committed before <see cref="BeforeTicks"/>.</summary>
    private sealed record Purge(long Position, long BeforeTicks, HashSet<string>? Types);
}
