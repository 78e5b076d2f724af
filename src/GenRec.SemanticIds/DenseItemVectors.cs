namespace GenRec.SemanticIds;

/// <summary>Which item vectors a dense ranking scores candidates with.</summary>
public enum DenseItemVectors
{
    /// <summary>The item tower's full output: content projection plus the ID embedding for items seen in training.</summary>
    Full,

    /// <summary>The item tower with no ID embedding for any item: warm and newly registered items on one scale.</summary>
    ContentOnly,
}
