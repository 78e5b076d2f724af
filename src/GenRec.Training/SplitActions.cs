using GenRec.Data;

namespace GenRec.Training;

/// <summary>What a split's actions say to the trainers whose models may read them ("auto" settings).</summary>
internal static class SplitActions
{
    /// <summary>Whether the split's train part holds events of more than one action (then a model reading actions can tell them apart).</summary>
    public static bool AreMany(DataSplit split)
    {
        ActionType? first = null;
        foreach (var s in split.Train)
        {
            foreach (var i in s.Interactions)
            {
                first ??= i.EffectiveAction;
                if (i.EffectiveAction != first)
                {
                    return true;
                }
            }
        }

        return false;
    }
}
