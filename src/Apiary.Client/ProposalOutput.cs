using Apiary.Contracts;

namespace Apiary.Client;

/// <summary>One item of a proposal's live output, <c>GET /api/proposals/{id}/output</c>.</summary>
public abstract record ProposalOutput;

/// <summary>Text the command wrote, as it wrote it.</summary>
/// <param name="Stream"><c>stdout</c> or <c>stderr</c>.</param>
/// <param name="Text">The text.</param>
public sealed record ProposalOutputText(string Stream, string Text) : ProposalOutput;

/// <summary>The last item: how the command ended.</summary>
/// <param name="Result">The result.</param>
public sealed record ProposalOutputCompleted(ResultDto Result) : ProposalOutput;
