/// MongoDB's stop word lists (src/mongo/db/fts/stop_words_<language>.txt): words a text index
/// leaves out and a search ignores. Matched after lower-casing, before stemming and before
/// diacritics are removed.
enum StopWords {
    static let lists: [String: Set<String>] = [
        "english": Set(english.split(separator: " ").map(String.init)),
    ]

    static let english = """
    than during himself your theirs most same wouldn't at it here's their his an out between doesn't not those only \
    yourself mustn't and shouldn't him you'll which more shan't after why up further over no its until them you don't few \
    why's i've for ours some when's they've won't herself but she he'd how's were how we've because aren't should our each \
    once they'd where above there or they'll be to are it's too itself what whom has they're had she'd these other when \
    hasn't by we'll having then against he's as is that isn't below could wasn't who's ourselves so any he cannot weren't \
    was my would we'd yourselves where's couldn't who didn't from i'm off have hers i am themselves of before i'll here \
    while what's myself ought me the into about this do can't a her that's did very down you've we you're haven't on \
    let's such they in with being doing she's yours hadn't nor both does own again there's he'll i'd under you'd through \
    we're she'll been all if
    """
}
