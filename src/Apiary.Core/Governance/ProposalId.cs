namespace Apiary.Governance;

/// <summary>The identity of one <see cref="Proposal"/>: a random 128-bit value, shown as 32 lowercase hex digits.</summary>
/// <param name="Value">The underlying value.</param>
public readonly record struct ProposalId(Guid Value)
{
    /// <summary>A new, random id.</summary>
    public static ProposalId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}
