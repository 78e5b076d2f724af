namespace GenRec;

/// <summary>
/// An item proposed by a stage of the cascade, with the score that stage gave it and the channel it came
/// from. Scores are comparable only within one stage's output.
/// </summary>
/// <param name="Item">The proposed item.</param>
/// <param name="Score">The stage's score; higher is better.</param>
/// <param name="Source">The recall channel or stage that produced the candidate.</param>
public readonly record struct Candidate(ItemId Item, double Score, string Source);
