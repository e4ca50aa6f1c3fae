using System.Globalization;

namespace Apiary.Governance.Budgets;

/// <summary>The four things a budget counts.</summary>
public enum BudgetDimension
{
    /// <summary>Commands run.</summary>
    Commands,

    /// <summary>Wall-clock time spent running.</summary>
    WallTime,

    /// <summary>Model tokens, input and output together.</summary>
    Tokens,

    /// <summary>Money, in US dollars.</summary>
    Cost,
}

/// <summary>
/// Known amounts in every <see cref="BudgetDimension"/>: what a reservation holds, what was spent, what a run actually
/// used. No amount is negative.
/// </summary>
public sealed record BudgetAmounts
{
    /// <summary>Creates amounts.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An amount is negative.</exception>
    public BudgetAmounts(long commands, TimeSpan wallTime, long tokens, decimal cost)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(commands);
        ArgumentOutOfRangeException.ThrowIfLessThan(wallTime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        NotNegative(cost, nameof(cost));
        (Commands, WallTime, Tokens, Cost) = (commands, wallTime, tokens, cost);
    }

    /// <summary>Nothing in every dimension.</summary>
    public static BudgetAmounts Zero { get; } = new(0, TimeSpan.Zero, 0, 0m);

    /// <summary>Commands.</summary>
    public long Commands { get; }

    /// <summary>Wall-clock time.</summary>
    public TimeSpan WallTime { get; }

    /// <summary>Model tokens.</summary>
    public long Tokens { get; }

    /// <summary>Cost in US dollars.</summary>
    public decimal Cost { get; }

    // Not ThrowIfNegative: decimal subtraction can give negative zero (-0.00), which it rejects.
    internal static void NotNegative(decimal value, string name)
    {
        if (value < 0m)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must not be negative");
        }
    }

    /// <summary>The sum of two amounts.</summary>
    public BudgetAmounts Add(BudgetAmounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Commands + other.Commands, WallTime + other.WallTime, Tokens + other.Tokens, Cost + other.Cost);
    }

    /// <summary>These amounts less <paramref name="other"/>, which must not be larger in any dimension.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The difference would be negative.</exception>
    public BudgetAmounts Subtract(BudgetAmounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Commands - other.Commands, WallTime - other.WallTime, Tokens - other.Tokens, Cost - other.Cost);
    }

    /// <summary>The amount in one dimension, as a decimal (wall time in seconds).</summary>
    public decimal Get(BudgetDimension dimension) => dimension switch
    {
        BudgetDimension.Commands => Commands,
        BudgetDimension.WallTime => (decimal)WallTime.TotalSeconds,
        BudgetDimension.Tokens => Tokens,
        BudgetDimension.Cost => Cost,
        _ => throw new ArgumentOutOfRangeException(nameof(dimension), dimension, null),
    };

    /// <inheritdoc/>
    public override string ToString() =>
        $"commands {Commands}, wall time {BudgetFormat.Value(BudgetDimension.WallTime, (decimal)WallTime.TotalSeconds)}, tokens {Tokens}, cost {BudgetFormat.Value(BudgetDimension.Cost, Cost)}";
}

/// <summary>
/// What a proposal is expected to use, as priced before it runs. A null amount is unknown: a proposal that cannot be
/// priced is denied, because a budget that lets unknown amounts through is no budget.
/// </summary>
/// <param name="Commands">Commands it will run, or null when unknown.</param>
/// <param name="WallTime">How long it may run, or null when unknown.</param>
/// <param name="Tokens">Model tokens it may use, or null when unknown.</param>
/// <param name="Cost">What it may cost in US dollars, or null when unknown.</param>
public sealed record BudgetEstimate(long? Commands, TimeSpan? WallTime, long? Tokens, decimal? Cost)
{
    /// <summary>An estimate whose every amount is known.</summary>
    public static BudgetEstimate Of(BudgetAmounts amounts)
    {
        ArgumentNullException.ThrowIfNull(amounts);
        return new(amounts.Commands, amounts.WallTime, amounts.Tokens, amounts.Cost);
    }

    /// <summary>The dimensions whose amount is unknown, in declaration order.</summary>
    public IReadOnlyList<BudgetDimension> Unknown =>
    [
        .. Commands is null ? [BudgetDimension.Commands] : Array.Empty<BudgetDimension>(),
        .. WallTime is null ? [BudgetDimension.WallTime] : Array.Empty<BudgetDimension>(),
        .. Tokens is null ? [BudgetDimension.Tokens] : Array.Empty<BudgetDimension>(),
        .. Cost is null ? [BudgetDimension.Cost] : Array.Empty<BudgetDimension>(),
    ];
}

/// <summary>
/// The limits of one budget scope. A null limit means the dimension is not limited in that scope; a zero limit
/// allows nothing.
/// </summary>
public sealed record BudgetLimits
{
    /// <summary>Creates limits.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A limit is negative.</exception>
    public BudgetLimits(long? commands = null, TimeSpan? wallTime = null, long? tokens = null, decimal? cost = null)
    {
        if (commands is { } c) ArgumentOutOfRangeException.ThrowIfNegative(c, nameof(commands));
        if (wallTime is { } w) ArgumentOutOfRangeException.ThrowIfLessThan(w, TimeSpan.Zero, nameof(wallTime));
        if (tokens is { } t) ArgumentOutOfRangeException.ThrowIfNegative(t, nameof(tokens));
        if (cost is { } m) BudgetAmounts.NotNegative(m, nameof(cost));
        (Commands, WallTime, Tokens, Cost) = (commands, wallTime, tokens, cost);
    }

    /// <summary>No limit in any dimension: what a scope has until limits are set.</summary>
    public static BudgetLimits Unlimited { get; } = new();

    /// <summary>The most commands, or null.</summary>
    public long? Commands { get; }

    /// <summary>The most wall-clock time, or null.</summary>
    public TimeSpan? WallTime { get; }

    /// <summary>The most tokens, or null.</summary>
    public long? Tokens { get; }

    /// <summary>The most cost in US dollars, or null.</summary>
    public decimal? Cost { get; }

    /// <summary>The limit in one dimension as a decimal (wall time in seconds), or null when not limited.</summary>
    public decimal? Get(BudgetDimension dimension) => dimension switch
    {
        BudgetDimension.Commands => Commands,
        BudgetDimension.WallTime => WallTime is { } w ? (decimal)w.TotalSeconds : null,
        BudgetDimension.Tokens => Tokens,
        BudgetDimension.Cost => Cost,
        _ => throw new ArgumentOutOfRangeException(nameof(dimension), dimension, null),
    };
}

internal static class BudgetFormat
{
    public static string Name(BudgetDimension dimension) => dimension switch
    {
        BudgetDimension.Commands => "commands",
        BudgetDimension.WallTime => "wall time",
        BudgetDimension.Tokens => "tokens",
        _ => "cost",
    };

    public static string Value(BudgetDimension dimension, decimal value) => dimension switch
    {
        BudgetDimension.WallTime => value.ToString("0.###", CultureInfo.InvariantCulture) + "s",
        BudgetDimension.Cost => value.ToString("0.00####", CultureInfo.InvariantCulture),
        _ => value.ToString("0", CultureInfo.InvariantCulture),
    };
}
