"""Template-built chat data: definitions (from WordNet), short stories and small talk.

All generators take a seeded random.Random and return documents as lists of segments:
  [("prompt", "User: ...<|eot_id|>Assistant: "), ("reply", "..."), ("prompt", "User: ...") ...]
corpus.py turns them into the exact 2B4T chat format.
"""
import re


def article(phrase):
    w = phrase.split()[0].lower()
    vowel = w[0] in "aeiou" and not w.startswith(("uni", "use", "usu", "one", "eu")) or w in ("hour", "honest")
    return ("an " if vowel else "a ") + phrase


def cap(s):
    return s[:1].upper() + s[1:]


# ----------------------------------------------------------------------------------------------- definitions
NOUN_Q = ["What is {a}?", "What is {a}?", "What is {a}?", "What's {a}?", "Can you tell me what {a} is?",
          "Define {w}.", "What does {w} mean?", "Explain what {a} is.", "Do you know what {a} is?",
          "what is {a}", "What is the meaning of {w}?"]
VERB_Q = ["What does it mean to {w}?", "What does {w} mean?", "Define the verb {w}.", "What is the meaning of {w}?",
          "Explain the word {w}."]
ADJ_Q = ["What does {w} mean?", "What does the word {w} mean?", "Define {w}.", "What is the meaning of {w}?"]


def _gloss_np(g):
    if re.match(r"(a|an|the|any|one|some|each|something|someone|anything)\b", g):
        return g
    return article(g)


COMMON = set("""
cat dog fox bird fish horse cow pig sheep goat bear lion tiger wolf rabbit mouse owl duck frog bee butterfly
elephant monkey snake whale dolphin shark penguin turtle deer squirrel chicken hen egg milk bread cheese apple
banana orange grape lemon carrot potato tomato rice cake cookie soup tea coffee water juice sugar salt honey
tree flower grass leaf forest river lake sea ocean mountain hill island beach desert sky sun moon star cloud rain
snow wind storm fire ice rock stone sand earth planet world city town village house home school church castle
garden farm park road street bridge door window wall roof room kitchen bed chair table lamp clock book pen pencil
paper letter picture song music dance game toy ball doll kite boat ship car bus train bicycle plane computer phone
robot television radio camera key box bag cup plate spoon knife fork bottle basket hat shoe coat dress shirt
friend family mother father brother sister baby child boy girl man woman king queen prince princess doctor
teacher farmer baker sailor pirate knight wizard dragon unicorn giant fairy ghost monster hero friend
love friendship happiness fear anger dream story joke question answer word language number time day night
morning evening week month year summer winter spring autumn birthday holiday gift money work job
run walk jump swim fly sing read write eat drink sleep play laugh cry think learn teach help give take make
happy sad angry brave kind good bad big small little old young new hot cold warm fast slow tall short
beautiful funny quiet loud bright dark clever wise gentle friendly lonely curious hungry tired
""".split())


def definition_doc(rnd, record):
    pos, w, g, ex, _ = record
    if pos == "noun":
        q = rnd.choice(NOUN_Q).format(a=article(w), w=w)
        a = f"{cap(article(w))} is {_gloss_np(g)}."
    elif pos == "verb":
        q = rnd.choice(VERB_Q).format(w=w)
        a = f"To {w} means to {g}."
    else:
        q = rnd.choice(ADJ_Q).format(w=w)
        a = f"The word \"{w}\" means {g}."
    if ex and rnd.random() < 0.5:
        a += f" For example: \"{cap(ex)}.\""
    return [("user", q), ("assistant", a)]


def definition_docs(rnd, wordnet, n, freq):
    """n Q&A documents. Common words (a hand list, then prose frequency) are asked more often."""
    score = lambda r: (r[1] in COMMON, freq.get(r[1], 0), r[4])
    nouns = sorted((r for r in wordnet if r[0] == "noun"), key=score, reverse=True)
    verbs = sorted((r for r in wordnet if r[0] == "verb"), key=score, reverse=True)
    adjs = sorted((r for r in wordnet if r[0] == "adj"), key=score, reverse=True)
    docs = []
    weights = lambda rows: [1.0 / (i + 100) ** 0.9 for i in range(len(rows))]
    for rows, share in ((nouns, 0.7), (verbs, 0.15), (adjs, 0.15)):
        picks = rnd.choices(rows, weights=weights(rows), k=int(n * share))
        docs += [definition_doc(rnd, r) for r in picks]
    rnd.shuffle(docs)
    return docs


# ----------------------------------------------------------------------------------------------- stories
# character: (noun, home, food/likes)
ANIMALS = {
    "fox": ("in a deep green forest", "run through the tall grass"),
    "rabbit": ("in a hole under an old tree", "eat fresh carrots"),
    "cat": ("in a little house in the town", "sleep in the warm sun"),
    "dog": ("on a farm near the river", "play with a red ball"),
    "bear": ("in a big dark cave", "eat sweet honey"),
    "owl": ("in a tall oak tree", "watch the stars at night"),
    "mouse": ("in a small hole in the wall", "look for bits of cheese"),
    "frog": ("by a quiet pond", "jump from leaf to leaf"),
    "duck": ("on a calm blue lake", "swim with the other ducks"),
    "lion": ("on the wide grassy plain", "sit on a big warm rock"),
    "elephant": ("near a muddy river", "splash water with its trunk"),
    "bird": ("in a nest high in a tree", "sing in the morning"),
    "turtle": ("near the sea", "walk slowly along the sand"),
    "horse": ("in a green field", "run as fast as the wind"),
    "pig": ("on a busy farm", "roll in the mud"),
    "wolf": ("in the snowy mountains", "howl at the moon"),
    "squirrel": ("in a big chestnut tree", "collect nuts for the winter"),
    "deer": ("at the edge of the forest", "eat soft green leaves"),
    "fish": ("in a clear blue river", "swim among the stones"),
    "bee": ("in a busy hive", "fly from flower to flower"),
    "butterfly": ("in a garden full of flowers", "dance in the warm air"),
    "monkey": ("in the jungle", "swing from tree to tree"),
    "tiger": ("in the jungle", "walk quietly in the shade"),
    "penguin": ("on the cold ice", "slide on its belly"),
    "dragon": ("in a cave on a high mountain", "fly above the clouds"),
    "unicorn": ("in a magic valley", "gallop across the meadow"),
    "cow": ("on a green hill", "eat grass all day"),
    "sheep": ("on a windy hill", "eat grass with the flock"),
    "goat": ("on a rocky hill", "climb the rocks"),
    "hedgehog": ("under a pile of leaves", "look for beetles"),
    "whale": ("in the deep blue sea", "sing long songs"),
    "kitten": ("in a cozy basket", "chase balls of yarn"),
    "puppy": ("in a small yellow house", "chase its own tail"),
    "chicken": ("on a farm", "peck at corn in the yard"),
    "snail": ("in a wet garden", "move slowly across the leaves"),
}
PEOPLE = {
    "little girl": ("in a small village", "draw pictures of the sky"),
    "little boy": ("in a house by the sea", "build castles in the sand"),
    "old man": ("in a small cottage", "tell stories by the fire"),
    "old woman": ("at the end of a quiet road", "grow flowers in her garden"),
    "princess": ("in a tall white castle", "read books in the tower"),
    "prince": ("in a grand castle", "ride his horse in the hills"),
    "king": ("in a golden palace", "walk in his garden"),
    "queen": ("in a great castle", "listen to music"),
    "farmer": ("on a farm near the hills", "work in his fields"),
    "baker": ("above a little bakery", "bake warm bread"),
    "sailor": ("in a town by the harbour", "sail on the open sea"),
    "knight": ("in a stone castle", "ride across the land"),
    "wizard": ("in a crooked tower", "read old books of magic"),
    "robot": ("in a busy city", "help people with their work"),
    "girl": ("in a small town", "ride her bike"),
    "boy": ("in a big city", "play football with his friends"),
    "fisherman": ("in a hut by the sea", "fish in the early morning"),
    "teacher": ("in a quiet town", "read stories to the children"),
    "pirate": ("on a big ship", "look for treasure"),
    "child": ("in a little house", "play in the garden"),
}
FEMALE = {"little girl", "old woman", "princess", "queen", "girl"}
MALE = {"little boy", "old man", "prince", "king", "farmer", "sailor", "knight", "wizard", "boy", "fisherman", "pirate"}
NAMES_F = ["Lily", "Mia", "Anna", "Lucy", "Emma", "Rose", "Sara", "Daisy", "Ella", "Molly", "Sophie", "Grace"]
NAMES_M = ["Tom", "Max", "Ben", "Sam", "Leo", "Jack", "Finn", "Oscar", "Toby", "Peter", "Luke", "Harry"]
ADJ = ["little", "small", "young", "brave", "kind", "curious", "clever", "happy", "shy", "friendly", "gentle",
       "busy", "lonely", "playful", "wise", "old"]
FRIENDS = ["a wise old owl", "a kind rabbit", "a little bird", "a friendly dog", "a small mouse", "an old turtle",
           "a gentle deer", "a busy bee", "a happy frog", "a kind girl", "a clever squirrel", "a big bear"]
PROBLEMS = [
    ("got lost far from home", "scared", "showed {o} the way home", "was never afraid to ask for help"),
    ("found a bird with a hurt wing", "sad", "helped the bird until its wing was better",
     "always helped others who were in trouble"),
    ("saw that a big storm was coming", "afraid", "found a dry and safe place to wait",
     "knew that storms always pass"),
    ("wanted to climb the highest hill", "tired", "climbed the hill together, step by step",
     "knew that friends make every hard thing easier"),
    ("lost a favourite red ball", "sad", "looked everywhere and found the ball under a bush",
     "took good care of the things {p} loved"),
    ("had no friends to play with", "lonely", "played together all afternoon", "was never lonely again"),
    ("found a shiny key in the grass", "curious", "found a small box full of old coins and shared them with everyone",
     "loved to share"),
    ("could not find any food for dinner", "hungry", "shared a big basket of apples", "always shared food with friends"),
    ("wanted to see the sea", "excited", "walked all day and saw the blue sea at sunset",
     "remembered that big dreams come true step by step"),
    ("heard a strange noise in the night", "scared", "found that it was only the wind in the trees",
     "was not afraid of the dark any more"),
    ("wanted to learn to swim", "nervous", "practised every day until {p} could swim across the pond",
     "knew that practice makes things easier"),
    ("saw a little one crying by the road", "worried", "helped the little one find its mother",
     "was known as the kindest in the land"),
]
STORY_Q = ["Tell me a short story about {a}.", "Tell me a story about {a}.", "Write a short story about {a}.",
           "Can you tell me a story about {a}?", "Please tell me a short story about {a}.",
           "I want a story about {a}.", "Tell me a bedtime story about {a}.", "Write a story about {a}.",
           "tell me a story about {a}", "Could you write a short story about {a}?"]


def story(rnd, who=None):
    chars = {**ANIMALS, **PEOPLE}
    who = who or rnd.choice(sorted(chars))
    home, likes = chars[who]
    if who in FEMALE or (who not in MALE and rnd.random() < 0.5):
        s, o, p, name = "she", "her", "her", rnd.choice(NAMES_F)
    else:
        s, o, p, name = "he", "him", "his", rnd.choice(NAMES_M)
    likes = likes.replace("its ", p + " ").replace("his ", p + " ").replace("her ", p + " ")
    adj = rnd.choice([a for a in ADJ if a not in who])
    the = "the " + who
    named = rnd.random() < 0.6
    ref = name if named else the
    Ref = name if named else cap(the)
    out = []
    opening = rnd.choice([
        f"Once upon a time, there was {article(adj + ' ' + who)}" + (f" named {name}" if named else "") + f" who lived {home}.",
        f"Once upon a time, {article(adj + ' ' + who)}" + (f" named {name}" if named else "") + f" lived {home}.",
        f"There once was {article(adj + ' ' + who)}" + (f" called {name}" if named else "") + f". {cap(s)} lived {home}.",
    ])
    out.append(opening)
    out.append(rnd.choice([f"{Ref} loved to {likes}.", f"Every day, {ref} liked to {likes}.",
                           f"More than anything, {ref} loved to {likes}."]))
    prob, feel, fix, lesson = rnd.choice(PROBLEMS)
    fix, lesson = fix.format(o=o, p=s), lesson.format(o=o, p=s)
    out.append(rnd.choice([f"One day, {ref} {prob}.", f"But one morning, {ref} {prob}.",
                           f"One sunny day, {ref} {prob}."]))
    out.append(rnd.choice([f"{cap(s)} felt very {feel}.", f"The {who} was {feel} and did not know what to do.",
                           f"{Ref} felt {feel}."]))
    friend = rnd.choice(FRIENDS)
    said = rnd.choice(["Do not worry. I will help you.", "Let us do it together.", "I can help you, my friend.",
                       "Don't be afraid. We can do this together."])
    out.append(rnd.choice([f"Then {friend} came by and said, \"{said}\"",
                           f"Just then, {friend} saw {o} and said, \"{said}\""]))
    out.append(rnd.choice([f"So they {fix}.", f"Together, they {fix}."]))
    out.append(rnd.choice([f"{Ref} was very happy.", f"{Ref} smiled and said, \"Thank you, my friend!\"",
                           f"{Ref} felt happy and warm inside."]))
    out.append(rnd.choice([f"From that day on, {ref} {lesson}.", f"And from then on, {the} {lesson}.",
                           "The end."]))
    return who, " ".join(out)


def story_docs(rnd, n):
    docs = []
    for _ in range(n):
        who, text = story(rnd)
        q = rnd.choice(STORY_Q).format(a=article(who) if rnd.random() < 0.85 else "the " + who)
        docs.append([("user", q), ("assistant", text)])
    return docs


# ----------------------------------------------------------------------------------------------- small talk
SMALLTALK = [
    (["Hello!", "Hello", "Hi!", "Hi", "Hi there!", "Hey!", "Hello there!", "hello", "hi", "Hey there."],
     ["Hello! How can I help you today?", "Hi there! How can I help you?", "Hello! What would you like to talk about?",
      "Hi! It is nice to meet you. How can I help?", "Hello! I am happy to help you."]),
    (["Good morning!", "Good morning", "Morning!"],
     ["Good morning! How can I help you today?", "Good morning to you too! What can I do for you?"]),
    (["Good evening!", "Good evening"], ["Good evening! How can I help you?", "Good evening! What can I do for you?"]),
    (["Good night!", "Good night"], ["Good night! Sleep well.", "Good night! Have sweet dreams."]),
    (["How are you?", "How are you today?", "How are you doing?", "how are you", "Hi, how are you?",
      "Hello! How are you?"],
     ["I am fine, thank you! How are you?", "I am doing well, thank you for asking. How can I help you?",
      "I am very well, thank you. What can I do for you today?"]),
    (["What is your name?", "Who are you?", "What are you?", "Tell me about yourself.", "what is your name"],
     ["I am BitNet Tiny, a small chat model. I can explain words and tell short stories.",
      "My name is BitNet Tiny. I am a very small language model that runs in your browser.",
      "I am a small assistant called BitNet Tiny. I know some words and a few stories."]),
    (["What can you do?", "How can you help me?", "What do you know?", "Can you help me?"],
     ["I can tell you what simple words mean, and I can tell you short stories. Try asking me \"What is a cat?\"",
      "I can explain simple words and tell short stories. For example, ask me for a story about a fox.",
      "Of course! I can explain words and tell short stories. What would you like?"]),
    (["Thank you!", "Thanks!", "Thank you very much.", "Thanks a lot!", "thanks", "Thank you."],
     ["You are welcome!", "You're welcome! Is there anything else I can do for you?",
      "You are very welcome. I am glad I could help."]),
    (["Goodbye!", "Bye!", "Bye", "See you later!", "Goodbye.", "I have to go now."],
     ["Goodbye! Have a nice day.", "Bye! It was nice talking to you.", "See you later! Take care."]),
    (["I am sad.", "I feel sad today.", "I am not happy."],
     ["I am sorry to hear that. I hope you feel better soon. Would you like to hear a short story?",
      "I am sorry you feel sad. Sometimes a walk or a talk with a friend can help."]),
    (["I am happy!", "I feel great today!", "I am very happy today."],
     ["That is wonderful! I am happy for you.", "That is great to hear! What made you happy?"]),
    (["I am bored.", "I'm bored."],
     ["Would you like me to tell you a short story?", "Let us talk! You can ask me what a word means."]),
    (["Tell me a joke.", "Do you know a joke?", "Say something funny."],
     ["Why did the cat sit on the computer? To keep an eye on the mouse!",
      "What do you call a bear with no teeth? A gummy bear!",
      "Why do fish live in salt water? Because pepper makes them sneeze!"]),
    (["Nice to meet you.", "Nice to meet you!"], ["Nice to meet you too!", "It is nice to meet you too. How can I help?"]),
    (["Are you a robot?", "Are you human?", "Are you a person?"],
     ["I am not a person. I am a small computer program that writes text.",
      "No, I am a small language model. I run in your web browser."]),
    (["Do you like stories?", "Can you tell stories?"],
     ["Yes, I love stories! Ask me for a short story about an animal.", "Yes! I can tell you a short story."]),
]


def smalltalk_docs(rnd, n):
    docs = []
    for _ in range(n):
        qs, answers = rnd.choice(SMALLTALK)
        docs.append([("user", rnd.choice(qs)), ("assistant", rnd.choice(answers))])
    return docs


def mixed_docs(rnd, defs, stories, talk, n):
    """Multi-turn conversations: a greeting, then one or two requests."""
    docs = []
    for _ in range(n):
        turns = list(rnd.choice(talk))
        for _ in range(rnd.choice([1, 1, 2])):
            turns += rnd.choice(defs if rnd.random() < 0.6 else stories)
        if rnd.random() < 0.3:
            qs, answers = SMALLTALK[7]
            turns += [("user", rnd.choice(qs)), ("assistant", rnd.choice(answers))]
        docs.append(turns)
    return docs
