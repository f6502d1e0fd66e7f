"""The built-in SYLLO word list: words, their syllable splits, a short definition each.

Written for this project (not copied from a dictionary). Each line of ``_RAW`` is
``syl-la-bles: definition``; the word is the syllables joined. The splits are
meant to be consistent rather than authoritative: what matters to the puzzle is
that the tiles concatenate to the word. Definitions are unique, so a clue names
exactly one word; no definition contains its own word.

Parsed once at import (a few hundred lines, well under a millisecond of work).
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Word(NamedTuple):
    """One entry of the word list."""

    word: str  # lower case, the syllables joined
    syllables: tuple[str, ...]  # lower-case a-z pieces, in order
    definition: str  # the clue shown to the solver


# One entry a line: syllables joined by "-", then ": ", then the definition.
_RAW = """
cat: a small furry pet that purrs
dog: a loyal pet that barks
sun: the star at the centre of our solar system
tree: a tall plant with a woody trunk
book: printed pages bound together for reading
fish: a cold-blooded swimmer that breathes through gills
bread: a baked loaf made from flour and yeast
chair: a seat with a back for one person
rain: water falling from the clouds
ship: a large vessel that crosses the sea
milk: a white drink that comes from cows
bell: a hollow metal cup that rings when struck
moon: the natural satellite of the earth
frog: a jumping amphibian that croaks
salt: white crystals used to season food
rope: thick twisted cord for pulling or tying
lamp: a household device that gives light
nest: a home of twigs that birds build
coin: a small round piece of metal money
drum: a percussion instrument struck with sticks
king: a male ruler of a realm
wolf: a wild canine that howls at night
snow: white frozen flakes that fall in winter
cake: a sweet baked dessert for birthdays
ap-ple: a crisp round fruit picked in an orchard
ba-by: a very young child
bas-ket: a woven container with a handle
blan-ket: a warm woollen cover for a bed
but-ter: a yellow spread churned from cream
can-dle: a wax stick with a wick that burns
car-pet: a thick woven floor covering
cas-tle: the fortified home of a medieval lord
cir-cus: a travelling show with acrobats and clowns
cof-fee: a hot drink brewed from roasted beans
cot-ton: a soft fibre from a fluffy plant
dan-cer: a performer who moves to music
doc-tor: a person who treats the sick
dra-gon: a fire-breathing beast of legend
fal-con: a fast bird of prey
far-mer: a person who grows crops or raises livestock
flow-er: the colourful bloom of a plant
for-est: a large area thick with trees
gar-den: a plot beside a house where plants are grown
gui-tar: a stringed instrument that is strummed
ham-mer: a tool for driving nails
har-bor: a sheltered place where boats dock
hel-met: a hard hat that protects the head
hon-ey: a sweet syrup made by bees
is-land: land surrounded by water
jack-et: a short coat
jun-gle: a dense tropical forest
kit-ten: a young cat
lad-der: a climbing frame with rungs
lem-on: a sour yellow citrus fruit
li-on: a big cat with a shaggy mane
mag-net: an object that attracts iron
mar-ket: a place where goods are bought and sold
mir-ror: a glass that shows your reflection
mon-key: a playful primate that swings through trees
moun-tain: a very high hill with a peak
nap-kin: a cloth for wiping the mouth at meals
nee-dle: a thin pointed tool for sewing
o-cean: a vast body of salt water
or-ange: a round citrus fruit that shares its name with a colour
pa-per: thin sheets for writing on
pen-cil: a writing tool with a graphite core
pep-per: a spice that can make you sneeze
pi-lot: a person who flies an aircraft
pic-ture: an image such as a painting or drawing
pil-low: a soft cushion for the head in bed
plan-et: a large body that orbits a star
pock-et: a small pouch sewn into clothing
pup-py: a young dog
rab-bit: a long-eared animal that hops
rib-bon: a narrow strip of fabric tied in bows
riv-er: a large natural stream flowing to the sea
rob-in: a small bird with a red breast
rock-et: a vehicle that launches into space
sad-dle: a seat strapped onto a horse
sal-ad: a dish of mixed raw vegetables
sail-or: a person who works aboard a ship
sand-wich: two slices of bread with a filling
scis-sors: a cutting tool with two blades
shad-ow: a dark shape cast where light is blocked
sil-ver: a shiny grey precious metal
sis-ter: a female sibling
spi-der: an eight-legged creature that spins webs
sta-tion: a stop where trains pick up passengers
sum-mer: the warmest season of the year
sweat-er: a knitted top worn for warmth
ta-ble: furniture with a flat top and legs
teach-er: a person who instructs pupils at school
tem-ple: a building for religious worship
thun-der: the loud boom that follows lightning
tick-et: a slip that grants entry or travel
ti-ger: a striped big cat
tim-ber: wood prepared for building
tow-el: a cloth for drying yourself
trum-pet: a brass instrument with three valves
tun-nel: an underground passage
tur-tle: a reptile that carries its shell
um-pire: an official who rules on plays in a match
val-ley: low land between hills
vel-vet: a soft fabric with a thick pile
vil-lage: a small rural settlement
vi-rus: a tiny agent that causes infections
wa-ter: a clear liquid essential for life
win-dow: an opening in a wall fitted with glass
win-ter: the coldest season of the year
wiz-ard: a man who practises magic
yel-low: the colour of ripe bananas
zeb-ra: a striped wild horse of Africa
an-chor: a heavy weight that holds a ship in place
ar-row: a pointed shaft shot from a bow
bal-loon: a rubber bag inflated with air
ban-ner: a long strip of cloth bearing a message
bar-rel: a round wooden container for liquids
bea-ver: a rodent that builds dams
bis-cuit: a small crisp baked treat
blos-som: a flower on a fruit tree
bor-der: the line between two countries
bot-tle: a glass container with a narrow neck
bub-ble: a thin sphere of liquid filled with air
bud-get: a plan for spending money
cab-in: a small wooden house in the woods
cam-el: a desert animal with humps
can-vas: strong cloth that artists paint on
car-rot: an orange root vegetable
cel-lar: a room below ground for storage
cher-ry: a small red fruit with a stone
chim-ney: a vertical shaft that carries smoke away
cit-y: a large and busy town
cli-mate: the usual weather of a region
col-lar: the part of a shirt around the neck
cop-per: a reddish metal used in electrical wires
cous-in: the child of your aunt or uncle
cra-dle: a small rocking bed for a baby
crys-tal: a clear mineral with flat faces
dag-ger: a short pointed knife
des-ert: a dry region with little rain
din-ner: the main meal of the evening
don-key: a long-eared animal related to the horse
el-bow: the joint in the middle of the arm
en-gine: a machine that turns fuel into motion
fab-ric: cloth made by weaving or knitting
feath-er: one of the light plumes covering a bird
fin-ger: one of five digits on a hand
gal-lon: a unit of liquid volume
gar-lic: a pungent bulb used in cooking
gi-ant: a being of enormous size
gin-ger: a spicy root used in cooking
gob-lin: a small mischievous creature in folk tales
gos-sip: idle talk about other people
grav-el: small loose stones on a path
ham-let: a very small village
her-mit: a person who lives alone away from others
hunt-er: a person who tracks wild game
in-sect: a small creature with six legs
jel-ly: a wobbly fruit dessert
jew-el: a precious stone
ket-tle: a pot for boiling water
knuck-le: a joint of the finger
lan-tern: a portable case holding a light
lap-top: a portable computer
let-ter: a written message sent by post
lob-ster: a sea creature with large claws
mar-ble: a polished stone used in sculpture
mead-ow: a grassy field
met-al: a hard shiny material such as iron
mit-ten: a glove without separate fingers
mus-cle: tissue that contracts to move the body
nov-el: a long work of fiction
nut-meg: a fragrant spice from a tropical seed
ot-ter: a playful river mammal
pad-dle: a short oar for a canoe
pal-ace: the grand residence of a monarch
par-rot: a colourful bird that can mimic speech
pea-nut: a legume eaten as a salty snack
peb-ble: a small smooth stone
pic-nic: a meal eaten outdoors on a blanket
pi-rate: a robber at sea
pump-kin: a large orange squash
pup-pet: a doll moved by strings or a hand
puz-zle: a game that tests ingenuity
rad-ish: a small red root with a peppery taste
rai-sin: a dried grape
ro-bot: a machine that performs tasks automatically
sal-mon: a pink-fleshed fish that swims upstream
sci-ence: systematic study of the natural world
shov-el: a tool for digging
sig-nal: a sign that conveys a message
sum-mit: the top of a mountain
tal-ent: a natural ability
tar-get: something aimed at
thim-ble: a cap protecting the finger when sewing
tof-fee: a chewy sweet of boiled sugar and butter
tur-nip: a round white root vegetable
wal-nut: an edible nut with a wrinkled shell
wal-rus: a large sea mammal with tusks
wea-sel: a small slender predator
whis-tle: a shrill sound made by blowing
wil-low: a tree with drooping branches
yo-gurt: a thick fermented milk food
zip-per: a fastener with interlocking teeth
pen-guin: a flightless bird of the Antarctic
rain-bow: an arc of colours in the sky after a shower
stu-dent: a person enrolled at a school or college
mam-mal: a warm-blooded animal that feeds its young milk
com-pass: an instrument that points north
dec-ade: a period of ten years
sau-sage: minced meat stuffed in a casing
ac-tor: a person who performs roles in plays
po-ny: a small horse
sea-son: one of the four parts of the year
slip-per: a soft indoor shoe
stat-ue: a carved or cast figure
ze-ro: the number meaning nothing
cob-web: an old dusty spider web
com-ma: a punctuation mark indicating a pause
sol-dier: a member of an army
pro-fes-sor: a university teacher
ba-na-na: a long curved yellow fruit
el-e-phant: the largest land animal with a trunk
kan-ga-roo: an Australian animal that hops and has a pouch
um-brel-la: a canopy that keeps off the rain
com-put-er: an electronic machine that processes data
to-ma-to: a red fruit used in salads and sauces
po-ta-to: a starchy tuber grown underground
cin-na-mon: a sweet spice from tree bark
buf-fa-lo: a large wild ox
but-ter-fly: an insect with large colourful wings
croc-o-dile: a large reptile with powerful jaws
din-o-saur: an extinct giant reptile
gal-ax-y: a vast system of stars
go-ril-la: the largest of the apes
ham-burg-er: a beef patty served in a bun
hos-pi-tal: a place where patients are treated
in-ter-net: the global computer network
li-brar-y: a place where books are lent
mag-a-zine: a periodical with articles and photos
mu-si-cian: a person who plays music
news-pa-per: a daily printed publication of news
oc-to-pus: a sea creature with eight arms
pas-sen-ger: a traveller in a vehicle who is not driving
pi-an-o: a keyboard instrument with hammers and strings
pine-ap-ple: a tropical fruit with spiky skin
pyr-a-mid: an ancient tomb with a square base and sloping sides
rec-i-pe: instructions for cooking a dish
res-tau-rant: a place where meals are served to customers
sat-el-lite: an object orbiting a planet
skel-e-ton: the framework of bones in a body
straw-ber-ry: a red fruit with seeds on the outside
tel-e-phone: a device for talking at a distance
tri-an-gle: a shape with three sides
vi-o-lin: a small stringed instrument played with a bow
vol-ca-no: a mountain that erupts lava
ad-ven-ture: an exciting journey or experience
al-pha-bet: the set of letters of a language
an-i-mal: a living creature that is not a plant
ar-chi-tect: a person who designs buildings
as-tro-naut: a person who travels into space
bi-cy-cle: a two-wheeled vehicle moved by pedals
blue-ber-ry: a small dark berry
cal-en-dar: a chart of days and months
cam-er-a: a device for taking photographs
car-pen-ter: a person who makes things from wood
chim-pan-zee: an intelligent African ape
choc-o-late: a sweet made from cocoa
cit-i-zen: a legal member of a country
cu-cum-ber: a long green vegetable used in salads
de-ter-gent: a soap used for washing clothes
di-a-mond: the hardest precious gemstone
di-rec-tor: a person who manages a film or company
e-lev-en: the number after ten
en-er-gy: the capacity to do work
en-ve-lope: a paper cover for a letter
fam-i-ly: parents and their children
fes-ti-val: a celebration with events and music
fur-ni-ture: tables, chairs and beds
gar-den-er: a person who tends plants
har-mo-ny: a pleasing combination of musical notes
hol-i-day: a day off from work or school
jel-ly-fish: a stinging sea creature with no bones
la-dy-bug: a small red beetle with black spots
lem-on-ade: a drink made of lemons, sugar and water
mar-ma-lade: a jam made from oranges
med-i-cine: a substance used to treat illness
mes-sen-ger: a person who carries messages
mi-cro-phone: a device that picks up sound
or-ches-tra: a large group of musicians
pa-ja-mas: clothes for sleeping in
par-a-chute: a canopy that slows a fall from the sky
pho-to-graph: a picture taken with a camera
pi-o-neer: one of the first to explore a new area
por-cu-pine: a rodent covered in sharp quills
pres-i-dent: the elected head of a republic
scor-pi-on: an arachnid with a venomous tail
sen-a-tor: a member of a senate
spa-ghet-ti: long thin strands of pasta
sub-ma-rine: a vessel that travels underwater
tan-ger-ine: a small sweet orange
tel-e-scope: an instrument for viewing distant objects
tor-na-do: a violent rotating windstorm
u-ni-form: special clothing worn by members of a group
vin-e-gar: a sour liquid used in pickling
wa-ter-fall: water dropping from a height
yes-ter-day: the day before today
ex-er-cise: physical activity to stay fit
em-per-or: the ruler of an empire
gal-ler-y: a room where art is displayed
gas-o-line: fuel for cars
in-ven-tor: a person who creates new devices
lav-en-der: a purple fragrant herb
re-port-er: a person who writes news stories
sig-na-ture: your name written in your own hand
vol-un-teer: a person who works without pay
crim-i-nal: a person who has broken the law
cap-i-tal: the city where a government sits
con-ti-nent: one of the large landmasses of the earth
pel-i-can: a water bird with a large throat pouch
fla-min-go: a pink wading bird that stands on one leg
cen-tu-ry: a period of one hundred years
bar-be-cue: a meal grilled outdoors
co-co-nut: a large hairy nut with white flesh
cham-pi-on: the winner of a competition
en-gi-neer: a person who designs machines or structures
po-et-ry: writing arranged in verse
u-ni-corn: a mythical horse with a single horn
ac-ro-bat: a performer of gymnastic feats
bal-co-ny: a platform projecting from an upper floor
cab-i-net: a cupboard with shelves or drawers
car-ni-val: a public fair with parades and rides
cor-ri-dor: a long passage in a building
ho-ri-zon: the line where the earth meets the sky
mos-qui-to: a biting insect that buzzes
mu-se-um: a building that displays historic objects
par-a-graph: a section of writing with one main idea
pep-per-mint: a mint used to flavour sweets
pot-ter-y: pots made from baked clay
thun-der-storm: a storm with lightning and heavy rain
tri-cy-cle: a three-wheeled vehicle for a small child
vi-ta-min: a nutrient needed in small amounts
wil-der-ness: a wild uninhabited region
hon-ey-moon: a holiday after a wedding
ju-ni-per: an evergreen shrub with blue berries
mar-i-gold: a plant with orange or yellow flowers
min-is-ter: a member of a government in charge of a department
oc-to-ber: the tenth month of the year
no-vem-ber: the eleventh month of the year
de-cem-ber: the twelfth month of the year
sep-tem-ber: the ninth month of the year
wheel-bar-row: a cart with one wheel and two handles
ar-gu-ment: a heated disagreement
bat-ter-y: a cell that stores electric power
con-duc-tor: a person who leads an orchestra
sym-pho-ny: a long piece written for orchestra
mar-a-thon: a running race of about forty-two kilometres
af-ter-noon: the time between midday and evening
cin-e-ma: a theatre where films are shown
pa-pa-ya: a tropical fruit with orange flesh and black seeds
ar-ti-choke: a thistle-like vegetable with edible leaves
hum-ming-bird: a tiny bird that hovers while feeding
wood-peck-er: a bird that drills holes in tree trunks
grass-hop-per: a jumping insect that chirps
bum-ble-bee: a large hairy bee
fire-fight-er: a person who puts out fires
as-ter-isk: a star-shaped punctuation symbol
al-li-ga-tor: a reptile with a broad snout found in swamps
av-o-ca-do: a green fruit with a large stone
cal-cu-la-tor: a device for doing arithmetic
cat-er-pil-lar: the larva of a butterfly
cau-li-flow-er: a vegetable with a white head of florets
dic-tion-ar-y: a book listing words and their meanings
el-e-va-tor: a lift that carries people between floors
har-mon-i-ca: a small mouth organ
hel-i-cop-ter: an aircraft lifted by rotating blades
mo-tor-cy-cle: a two-wheeled motor vehicle
wa-ter-mel-on: a large green melon with red flesh
ar-ma-dil-lo: an animal with a bony armoured shell
cel-e-bra-tion: a party for a special occasion
com-mu-ni-ty: a group of people living in one area
ther-mom-e-ter: an instrument that measures temperature
e-mer-gen-cy: a sudden serious situation needing action
ge-og-ra-phy: the study of the earth's surface
his-to-ri-an: a person who studies the past
in-for-ma-tion: facts provided about something
kin-der-gar-ten: a school class for very young children
mac-a-ro-ni: short tubes of pasta
ma-te-ri-al: the substance things are made of
pe-des-tri-an: a person walking in the street
pho-tog-ra-pher: a person who takes pictures for a living
sal-a-man-der: a small amphibian resembling a lizard
sec-re-tar-y: a person who handles office correspondence
su-per-mar-ket: a large self-service grocery store
ta-ran-tu-la: a large hairy spider
tel-e-vi-sion: a device that shows broadcast programmes
trans-por-ta-tion: the moving of people or goods
veg-e-ta-ble: a plant eaten as food such as a carrot
ac-cor-di-on: an instrument with bellows and keys
a-quar-i-um: a glass tank where fish are kept
bi-ol-o-gy: the study of living things
con-ver-sa-tion: a talk between people
dan-de-li-on: a yellow weed whose seeds blow away
de-liv-er-y: the bringing of goods to a place
ed-u-ca-tion: the process of teaching and learning
ex-pe-ri-ence: knowledge gained by doing
grad-u-a-tion: the ceremony of receiving a degree
hu-man-i-ty: the whole human race
in-vi-ta-tion: a request to attend an event
nav-i-ga-tor: a person who plots a course
op-er-a-tion: a surgical procedure
pol-i-ti-cian: a person active in government
pop-u-la-tion: the number of people living in a place
tem-per-a-ture: a measure of how hot something is
es-ca-la-tor: a moving staircase
as-tron-o-mer: a scientist who studies the stars
me-te-or-ite: a rock from space that reaches the ground
a-pos-tro-phe: a punctuation mark showing possession
"""

_SYLLABLE = re.compile(r"[a-z]+")


def _parse(raw: str) -> tuple[Word, ...]:
    """Parse ``_RAW``; a malformed line is a programming error that names the line."""
    words: list[Word] = []
    seen_words: set[str] = set()
    seen_definitions: set[str] = set()
    for lineno, line in enumerate(raw.strip().splitlines(), start=1):
        split, sep, definition = line.partition(": ")
        syllables = tuple(split.split("-"))
        word = "".join(syllables)
        problem = None
        if not sep or not definition.strip():
            problem = "expected 'syl-la-bles: definition'"
        elif not all(_SYLLABLE.fullmatch(s) for s in syllables):
            problem = "syllables must be lower-case a-z joined by '-'"
        elif "\n" in definition or " — " in definition or definition != definition.strip():
            problem = "definition must be one trimmed line without ' — '"
        elif word in seen_words:
            problem = f"duplicate word {word!r}"
        elif definition in seen_definitions:
            problem = f"duplicate definition {definition!r}"
        elif word in definition.lower():
            problem = f"definition gives away the word {word!r}"
        if problem:
            raise ValueError(
                f"syllo_train/demo/wordlist.py _RAW line {lineno}: {problem}: {line!r}"
            )
        seen_words.add(word)
        seen_definitions.add(definition)
        words.append(Word(word, syllables, definition))
    return tuple(words)


#: Every word, in list order.
WORDS: tuple[Word, ...] = _parse(_RAW)

#: Definition -> word; definitions are unique, so a clue identifies its word.
BY_DEFINITION: dict[str, Word] = {w.definition: w for w in WORDS}

#: Every distinct syllable in the list, sorted: the pool red herrings come from.
ALL_SYLLABLES: tuple[str, ...] = tuple(sorted({s for w in WORDS for s in w.syllables}))
