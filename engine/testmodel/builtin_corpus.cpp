// Built-in BPE training text. Written for lfmd (original text); part of it is generated from the
// word lists below with a fixed-seed generator. NEVER edit: generated vocabularies depend on
// every byte of it (tests pin its size and hash).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/testmodel/vocab_builder.h"

namespace lfmd {

namespace {

const char* const kProse[] = {
    R"TXT(The harbour town woke slowly on the first cold morning of October. Fishermen pulled their boats up the gravel ramp, gulls argued over scraps near the market hall, and the baker on Quay Street opened his shutters a little after six. By seven the smell of fresh bread had reached the lighthouse, where the keeper's daughter was already painting the railings a patient shade of green.
Nobody in the town could remember when the lighthouse had last been needed. Ships carried satellite receivers now, and the lamp turned mostly out of habit. Still, the council paid for the paint every autumn, and every autumn someone complained about the cost at the public meeting. "It is a landmark," the mayor would say, "and landmarks are cheaper than regret."
)TXT",
    R"TXT(Bread is one of the oldest prepared foods. A simple loaf needs only flour, water, salt and yeast, yet the variations are endless. Bakers talk about hydration, the ratio of water to flour by weight: a stiff bagel dough might sit near fifty-five percent, while an open, airy country loaf can go above seventy-five percent. Higher hydration gives larger holes and a chewier crumb, but the dough becomes sticky and harder to shape.
Time matters as much as ingredients. A long, cool fermentation lets enzymes break starch into sugars, which feed the yeast and brown the crust. Many home bakers leave their dough in the refrigerator overnight, shape it in the morning, and bake it in a heavy pot with the lid on for the first twenty minutes, so that steam keeps the surface soft while the loaf rises.
)TXT",
    R"TXT(On a clear night far from city lights, you can see a few thousand stars with the naked eye. Most of them are within a few hundred light-years of the Sun. The faint band of the Milky Way is the combined glow of billions of more distant stars in the disk of our galaxy, seen edge-on from the inside.
Astronomers measure the brightness of stars on a magnitude scale that runs backwards: brighter objects have smaller numbers. The planet Venus can reach magnitude minus four, while the faintest stars visible to a patient observer under a dark sky are around magnitude six. Binoculars push that limit to about nine, and a modest backyard telescope reaches twelve or thirteen.
Planets drift against the background stars over weeks and months. The ancient word planet means wanderer, and for centuries their looping paths were a puzzle. The explanation, that Earth itself moves around the Sun and overtakes the outer planets, took a long time to be accepted.
)TXT",
    R"TXT(A vegetable garden rewards planning more than effort. Before the first seed goes into the ground, it helps to watch how sunlight moves across the yard during the day. Tomatoes, peppers and squash want at least six hours of direct sun; lettuce, spinach and peas tolerate some shade and even prefer it in the heat of summer.
Soil is a living thing. A handful of healthy garden soil holds more microorganisms than there are people on the planet, and they are the ones who turn compost and fallen leaves into nutrients that roots can take up. Adding organic matter every year improves drainage in heavy clay and helps sandy soil hold water.
Water deeply and less often, rather than a little every day. Deep watering encourages roots to grow down, where the soil stays cool and moist, and plants become more resilient during dry spells.
)TXT",
    R"TXT(Computers represent text as sequences of numbers. Early systems used seven-bit codes with room for only one hundred and twenty-eight characters, enough for English letters, digits and punctuation but nothing else. Different countries invented incompatible extensions, and a document written on one machine often turned into nonsense on another.
Unicode was designed to end that confusion by giving every character in every writing system its own number, called a code point. The most common way to store those numbers today is UTF-8, a variable-length encoding in which plain ASCII text is unchanged and other characters take two, three or four bytes. Because the lead byte of each sequence announces its length, a program can find character boundaries without decoding the whole string from the start.
A tokenizer for a language model sits on top of this. It cuts text into pieces, maps each piece to an integer, and makes sure that every possible string, even one containing invalid bytes, can be represented somehow.
)TXT",
    R"TXT(The train left the capital at dawn and followed the river north for most of the morning. Outside the window, fields of sunflowers gave way to vineyards, then to steep wooded hills with villages tucked into the valleys. At each station a few passengers got off with shopping bags and a few got on with suitcases, and the conductor greeted most of them by name.
Travelling by rail is slower than flying, but the journey becomes part of the trip instead of an interruption. You can read, walk to the dining car, or simply watch the landscape change. When the train finally crossed the border in the late afternoon, the signs switched language, the coffee got stronger, and the light seemed softer on the stone houses.
)TXT",
    R"TXT(Music theory describes how notes relate to each other. An octave divides into twelve semitones in Western tuning, and a major scale picks seven of them in a pattern of whole and half steps. Chords are built by stacking thirds: a major triad has a major third below a minor third, while a minor triad reverses the order.
Rhythm is just as important as harmony. A waltz counts three beats to the bar, a march counts two or four, and many folk traditions use uneven meters such as seven or eleven beats grouped into short and long pulses. Good musicians feel these patterns in the body rather than counting them consciously.
)TXT",
    R"TXT(The football season ended with a final that nobody predicted. The home side, promoted only two years earlier, had lost their first three matches and sat at the bottom of the table in September. A new coach changed the formation, moved the captain into midfield and gave three teenagers their first starts. By March they were unbeaten in fourteen games.
In the final they fell behind after eleven minutes, equalised just before half-time, and scored the winner from a corner in the eighty-seventh minute. The stadium, built for twenty thousand people, held nearly twenty-three thousand that evening, and the celebrations in the old market square lasted until sunrise.
)TXT",
    R"TXT(Interest rates are the price of borrowing money over time. When a central bank raises its policy rate, commercial banks usually follow, loans become more expensive, and households and companies tend to spend and invest less. When rates fall, borrowing is cheaper and activity often picks up, although the effect can take a year or more to show in the data.
Inflation measures how quickly prices rise on average. Statistical offices track a basket of goods and services, from rent and electricity to haircuts and bus tickets, and report how its cost changes from month to month and year to year. A little inflation is considered healthy; a lot of it erodes savings and makes planning difficult.
)TXT",
    R"TXT(Mountains make their own weather. As moist air is pushed up a slope it cools, and the water vapour condenses into clouds and rain. The far side of the range often lies in a rain shadow, dry and sunny, because the air has already lost most of its moisture by the time it descends.
Hikers learn to read the sky. Towering clouds that build quickly in the early afternoon can turn into thunderstorms within an hour, and the safest plan is to reach the summit early and be below the tree line before lunch. A thin veil of high cloud spreading from the west often means that a front will arrive within a day.
)TXT",
    R"TXT(The library on Elm Avenue keeps its old card catalogue in the reading room, even though every record was moved to the computer system years ago. Children like to open the small wooden drawers and read the typed cards, some of them yellow with age and annotated in pencil by librarians long retired. The cards list titles that the library no longer owns, authors nobody remembers, and subjects with charming names like "Aeronautics, Popular" and "Etiquette, Household".
Librarians today spend less time stamping books and more time helping people fill in forms, learn to use a tablet, or find reliable health information. The building is warm in winter and cool in summer, and for some visitors it is the only quiet public space they know.
)TXT",
    R"TXT(Learning a second language as an adult is mostly a matter of steady exposure. Grammar tables help, but understanding grows from hearing and reading thousands of sentences in context. Many learners find that short daily sessions work better than long weekly ones, because memory consolidates during sleep and repeated contact keeps new words active.
Pronunciation is often the hardest part. Sounds that do not exist in your first language are difficult even to hear at first, let alone produce. Recording yourself and comparing the result with a native speaker can be uncomfortable, but it shows exactly where the differences lie.
)TXT",
    R"TXT(Bees do not see the world the way we do. Their eyes are sensitive to ultraviolet light, and many flowers carry ultraviolet patterns, invisible to us, that guide insects toward the nectar. A honeybee that finds a good patch of flowers returns to the hive and performs a dance whose angle and duration tell her sisters the direction and distance of the food.
A strong colony in summer may hold fifty thousand workers, a few hundred drones and a single queen. Workers live only a few weeks in the busy season, wearing themselves out in the fields, while those born in autumn survive the whole winter clustered around the queen, shivering their flight muscles to keep the hive warm.
)TXT",
    R"TXT(When you design a database table, think first about the questions you will ask of it. An index speeds up lookups on the columns it covers but slows down every insert and update, because the index must be maintained as well. A table that is written constantly and read rarely needs few indexes; a table that is read by every page of a website may need several.
Normalisation removes duplicated data so that each fact lives in exactly one place. Sometimes, for speed, engineers deliberately denormalise and store a computed total next to the rows it summarises. That is a reasonable trade as long as everyone knows which copy is the source of truth and how the other is kept up to date.
)TXT",
    R"TXT(The storm arrived a day earlier than forecast. By noon the wind had torn branches from the plane trees along the avenue and the river was running brown and fast under the stone bridge. Shops closed early, the ferry stopped running, and the school sent the children home at two o'clock with notes for their parents.
In the evening the power failed across the eastern districts. Families lit candles, found old radios in cupboards, and listened to the announcer read the list of closed roads. The next morning was calm and bright, the streets covered in leaves and the air smelling of wet earth, and the cleanup crews were out before eight.
)TXT",
    R"TXT(I can't promise that the meeting will end on time, but we'll try. She's sure they're ready; he'd said so twice. You've got to admit it's a clever plan, isn't it? They'll arrive around nine, and we're going to need more chairs. Don't worry about the projector: I've tested it, and it's fine. Who's bringing the coffee? It's Sam's turn, I'm afraid, and Sam's coffee is famously weak. WE'LL SEE. IT'S FINE. I'M SURE THEY'RE RIGHT. Y'all know what I mean. O'Brien's shop isn't open on Sundays, and the Smiths' house is the one with the red door.
)TXT",
    R"TXT(Version 2.4.1 fixes a crash when the configuration file is empty, improves start-up time by about 30%, and adds a --dry-run flag to the import command. The minimum supported compiler is now GCC 11 or Clang 14. See CHANGELOG.md for details, or run `tool --help` for the full list of options.
Known issues: on some systems the progress bar flickers when the terminal is narrower than 80 columns; a workaround is to set NO_COLOR=1. Large imports (over 2 GB) may take several minutes; use --threads=8 on machines with enough cores.
)TXT",
    R"TXT(Maps are arguments about the world as much as pictures of it. Every flat map of the round Earth must distort something: areas, angles, distances or shapes. A projection that keeps compass directions true, useful for sailors, inflates the size of countries far from the equator, so that Greenland looks as large as Africa although Africa is about fourteen times bigger.
Before satellites, surveyors measured the land with chains, theodolites and patient triangulation. They climbed church towers and hilltops, sighted distant markers, and filled notebooks with angles that were later reduced, by hand, into coordinates. Some of the old survey pillars still stand on summits, concrete columns with a brass plate on top.
)TXT",
    R"TXT(Photography is the craft of controlling light. Three settings decide the exposure: the aperture, which sets how wide the lens opens; the shutter speed, which sets how long the sensor collects light; and the sensitivity, which sets how strongly the signal is amplified. Opening the aperture blurs the background, a slow shutter blurs motion, and a high sensitivity adds grain.
Composition matters more than equipment. Beginners often place the subject dead centre; moving it slightly to one side, leaving space in the direction a person is looking, or including a foreground object to suggest depth can turn a snapshot into a photograph. The soft light of early morning and late afternoon flatters almost everything.
)TXT",
    R"TXT(Chess looks simple on the surface: sixteen pieces each, sixty-four squares, and a handful of rules about how each piece moves. Underneath, the number of possible games is astronomically large. Beginners learn to control the centre, develop knights and bishops early, castle to protect the king, and avoid moving the same piece twice in the opening without a reason.
Endgames teach precision. With only a few pieces left, a single tempo decides whether a pawn promotes or the position is drawn. Strong players study these positions until the correct moves become automatic, because in a tournament game the clock rarely leaves time for long calculation at the end.
)TXT",
    R"TXT(The human heart beats around one hundred thousand times a day, pumping blood through a network of vessels that would stretch more than twice around the planet if laid end to end. Regular exercise strengthens the heart muscle, lowers resting pulse and blood pressure, and improves the way the body handles sugar. Walking briskly for half an hour most days already makes a measurable difference.
Sleep is the other pillar of health that people tend to neglect. During deep sleep the brain clears waste products and consolidates memories; after a few short nights, reaction times slow and mood suffers. Keeping a regular schedule, avoiding screens late in the evening and keeping the bedroom dark and cool all help.
)TXT",
    R"TXT(Cycling to work changes how you see a city. From a car the streets are a blur between traffic lights; from a bicycle you notice the bakery that opens at half past six, the mural that appeared overnight on the warehouse wall, and the exact spot where the road tilts uphill. A good lock, working lights and a waterproof jacket solve most practical problems.
Maintenance is easier than it looks. Keeping the tyres pumped to the pressure printed on the sidewall prevents most punctures, a drop of oil on the chain every couple of weeks keeps the drivetrain quiet, and brake pads should be replaced before the metal backing touches the rim or disc.
)TXT",
    R"TXT(Oceans cover seventy-one percent of the surface of the Earth and hold ninety-seven percent of its water. Sunlight penetrates only the top two hundred metres or so; below that lies the twilight zone, and beneath it complete darkness, cold and crushing pressure. Yet life flourishes even there, around hydrothermal vents where bacteria draw energy from chemicals rather than light.
Currents carry heat from the tropics toward the poles and shape the climate of entire continents. The western coast of Europe is mild for its latitude largely because warm water flows north across the Atlantic. Changes in these currents, driven by temperature and salinity, are among the questions climate scientists watch most closely.
)TXT",
    R"TXT(Good code is written for the next person who reads it. Choose names that explain intent, keep functions short enough to understand at a glance, and write a comment when the reason for a decision is not obvious from the code itself. Tests are a form of documentation too: they show how a function is meant to be called and what it promises to return.
Refactoring is safest in small steps. Rename one thing, run the tests, commit; extract one function, run the tests, commit. When something breaks, the cause is in the last small change, and reverting costs nothing. Large rewrites that touch everything at once are where projects go to stall.
)TXT",
    R"TXT(Architecture responds to climate long before it responds to fashion. In hot, dry regions, thick earthen walls store the coolness of the night and release it slowly during the day, courtyards trap shade, and narrow streets keep pedestrians out of the sun. In rainy northern towns, steep roofs shed water and snow, and deep eaves protect the walls.
Modern buildings can learn from these traditions. Insulation, careful orientation, shading over south-facing windows and natural ventilation reduce the energy needed for heating and cooling far more cheaply than any machine installed afterwards.
)TXT",
    R"TXT(Chemistry is the study of how atoms combine, separate and recombine. Water is two hydrogen atoms bound to one oxygen atom; table salt is a lattice of sodium and chlorine ions; the sugar in your tea is a ring of carbon atoms decorated with oxygen and hydrogen. Reactions rearrange these bonds, releasing or absorbing energy as they go.
Catalysts speed up reactions without being consumed. Enzymes are the catalysts of living cells, folded proteins whose shape fits their target molecules like a key in a lock. Industrial catalysts, often finely divided metals, make fertilisers, fuels and plastics at temperatures and pressures that would otherwise be impractical.
)TXT",
    R"TXT(Volunteers rebuilt the footpath along the canal over three summers. They cleared brambles, laid gravel, repaired two wooden footbridges and planted hawthorn and hazel along the towpath. Local schools adopted sections of the path, and each class painted a sign describing the birds and insects that lived nearby: kingfishers, herons, dragonflies, and the occasional otter.
The project cost far less than a contractor would have charged, mainly because the materials were donated and the labour was free. More importantly, it gave the neighbourhood a shared place that people felt they owned. On warm evenings the path is busy with joggers, dog walkers and families on bicycles.
)TXT",
    R"TXT(Q: How do I reset my password?
A: Open the settings page, choose "Account", then "Security", and click "Reset password". You'll receive an email within five minutes; if it doesn't arrive, check your spam folder.
Q: Can I use the app offline?
A: Yes. Notes and tasks are stored on your device and synchronised when you're back online. Attachments larger than 25 MB are downloaded on demand.
Q: What happens to my data if I delete my account?
A: Everything is removed from our servers within thirty days. Backups are overwritten on a rolling schedule and aren't kept longer than ninety days.
)TXT",
};

const char* const kCode[] = {
    R"TXT(#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace demo {

// Counts how often each word occurs in a text and returns the top `k`, most frequent first.
std::vector<std::pair<std::string, int>> top_words(const std::string& text, size_t k) {
  std::unordered_map<std::string, int> counts;
  std::string word;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!word.empty()) {
      ++counts[word];
      word.clear();
    }
  }
  if (!word.empty()) ++counts[word];
  std::vector<std::pair<std::string, int>> out(counts.begin(), counts.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > k) out.resize(k);
  return out;
}

class RingBuffer {
 public:
  explicit RingBuffer(size_t capacity) : data_(capacity), head_(0), size_(0) {}
  void push(float x) {
    data_[(head_ + size_) % data_.size()] = x;
    if (size_ < data_.size()) {
      ++size_;
    } else {
      head_ = (head_ + 1) % data_.size();
    }
  }
  float mean() const {
    if (size_ == 0) return 0.0f;
    double sum = 0.0;
    for (size_t i = 0; i < size_; ++i) sum += data_[(head_ + i) % data_.size()];
    return static_cast<float>(sum / static_cast<double>(size_));
  }
  size_t size() const { return size_; }

 private:
  std::vector<float> data_;
  size_t head_;
  size_t size_;
};

template <typename T>
T clamp_value(T x, T lo, T hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

int64_t checked_mul(int64_t a, int64_t b, bool* overflow) {
  int64_t r = 0;
  *overflow = __builtin_mul_overflow(a, b, &r);
  return r;
}

}  // namespace demo
)TXT",
    R"TXT(import json
import math
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass
class Sample:
    name: str
    values: List[float] = field(default_factory=list)
    label: Optional[str] = None

    def mean(self) -> float:
        if not self.values:
            return 0.0
        return sum(self.values) / len(self.values)

    def stddev(self) -> float:
        if len(self.values) < 2:
            return 0.0
        m = self.mean()
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (len(self.values) - 1))


def load_samples(path: str) -> List[Sample]:
    with open(path, "r", encoding="utf-8") as f:
        raw = json.load(f)
    samples = []
    for item in raw.get("samples", []):
        samples.append(Sample(name=item["name"], values=item.get("values", []), label=item.get("label")))
    return samples


def summarize(samples: List[Sample]) -> Dict[str, Dict[str, float]]:
    out = {}
    for s in samples:
        out[s.name] = {"mean": round(s.mean(), 4), "stddev": round(s.stddev(), 4), "n": len(s.values)}
    return out


def main() -> None:
    random.seed(1234)
    samples = [Sample(name=f"run_{i:03d}", values=[random.gauss(0.0, 1.0) for _ in range(100)]) for i in range(10)]
    for name, stats in summarize(samples).items():
        print(f"{name}: mean={stats['mean']:+.4f} stddev={stats['stddev']:.4f} n={stats['n']}")


if __name__ == "__main__":
    main()
)TXT",
    R"TXT({
  "name": "weather-station",
  "version": "1.3.0",
  "location": {"latitude": 47.3769, "longitude": 8.5417, "elevation_m": 408},
  "sensors": [
    {"id": "temp-01", "type": "temperature", "unit": "celsius", "interval_s": 60, "enabled": true},
    {"id": "hum-01", "type": "humidity", "unit": "percent", "interval_s": 60, "enabled": true},
    {"id": "wind-01", "type": "wind_speed", "unit": "m/s", "interval_s": 10, "enabled": false},
    {"id": "rain-01", "type": "precipitation", "unit": "mm", "interval_s": 300, "enabled": true}
  ],
  "upload": {"url": "https://example.org/api/v2/readings", "retries": 3, "timeout_ms": 2500},
  "tags": ["roof", "north-side", "calibrated-2023"],
  "notes": null
}
)TXT",
    R"TXT(#!/usr/bin/env bash
set -euo pipefail
for f in data/*.csv; do
  n=$(wc -l < "$f")
  echo "${f}: ${n} lines"
done
grep -rn "TODO" src/ | sort | uniq -c | sort -rn | head -20
export PATH="$HOME/.local/bin:$PATH"
mkdir -p build && cd build && cmake .. -DCMAKE_BUILD_TYPE=Release && make -j8

SELECT c.name, COUNT(o.id) AS orders, SUM(o.total) AS revenue
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id
WHERE o.created_at >= '2024-01-01'
GROUP BY c.name
HAVING COUNT(o.id) > 5
ORDER BY revenue DESC
LIMIT 10;
)TXT",
};

const char* const kWorld[] = {
    R"TXT(Le marché du samedi commence très tôt. Les maraîchers installent leurs étals avant l'aube, et à huit heures la place est déjà pleine de monde. On y trouve des légumes de saison, du fromage de chèvre, du pain de campagne et, en automne, des châtaignes grillées. Les enfants réclament des crêpes, les grands-parents comparent le prix des pommes, et tout le monde s'arrête pour bavarder au café près de l'église. Où est la boulangère ? Elle a déjà vendu toutes ses brioches.
)TXT",
    R"TXT(Der Herbst in den Bergen ist kühl und klar. Morgens liegt Nebel über dem See, doch gegen Mittag scheint die Sonne, und die Wälder leuchten gelb und rot. Die Wanderer übernachten in einer Hütte auf 1.800 Metern Höhe, wo es einfache Gerichte gibt: Suppe, Käse, Brot und einen starken Kaffee. Über die Brücke führt ein schmaler Weg zur Aussichtsplattform. Größere Gruppen müssen sich vorher anmelden, weil die Hütte nur zwölf Betten hat.
)TXT",
    R"TXT(En la pequeña ciudad del sur, la vida se detiene después del mediodía. Las tiendas cierran, las calles se quedan vacías y el calor obliga a todos a descansar. Por la tarde, cuando baja el sol, la plaza se llena otra vez: los niños juegan al fútbol, los ancianos conversan en los bancos y las familias pasean hasta la hora de la cena, que nunca empieza antes de las diez. ¿Vienes mañana? ¡Claro que sí!
)TXT",
    R"TXT(A cidade acordou com o som dos sinos e o cheiro de café. Nas ruas estreitas do bairro antigo, os elétricos amarelos sobem devagar as colinas, e os turistas tiram fotografias das fachadas de azulejos. Ao fim da tarde, as pessoas reúnem-se nos miradouros para ver o pôr do sol sobre o rio, e ouve-se música nas tascas até tarde. Não há pressa; a conversa continua enquanto houver pão e vinho na mesa.
)TXT",
    R"TXT(Zima w górach bywa długa i surowa. Śnieg pada od listopada do kwietnia, a drogi do najwyższych wsi są czasem nieprzejezdne. Mieszkańcy przygotowują drewno na opał już latem i przechowują zapasy w piwnicach. Wieczorem rodziny siadają przy piecu, pieką chleb i opowiadają historie o dawnych czasach. Dzieci cieszą się z sanek, a dorośli z gorącej herbaty z sokiem malinowym. Příliš žluťoučký kůň úpěl ďábelské ódy. Svět je krásný, když svítí slunce. Den gamle fiskeren så på havet og smilte. Även i Göteborg regnar det ofta på hösten.
)TXT",
    R"TXT(Το καλοκαίρι στα νησιά η θάλασσα είναι ζεστή και καθαρή. Οι ψαράδες βγαίνουν νωρίς το πρωί και επιστρέφουν πριν από το μεσημέρι. Зимой в деревне тихо, и дым поднимается из труб над заснеженными крышами. Дети катаются на санках, а взрослые пьют горячий чай. Київ стоїть на березі Дніпра.
)TXT",
    R"TXT(春天来了，公园里的花都开了。早上有很多人在湖边散步、跑步，还有老人在树下打太极拳。下午孩子们放学以后，会在草地上放风筝。我们打算周末去山上看樱花，然后在附近的小饭馆吃午饭。学习一门新的语言需要时间和耐心，每天读一点、听一点，慢慢就会进步。今天的天气很好，气温大约二十三度。
)TXT",
    R"TXT(今日は朝から雨が降っています。駅までの道はとても混んでいて、電車も少し遅れました。昼休みには同僚と一緒に近くの店でラーメンを食べました。午後の会議では新しいプロジェクトの計画について話し合いました。週末は天気が良ければ、友だちと海へ行くつもりです。東京の夏は暑くて湿気が多いですが、夜になると少し涼しくなります。
)TXT",
    R"TXT(오늘은 날씨가 맑고 따뜻합니다. 아침에 공원에서 산책을 하고 카페에서 커피를 마셨습니다. 오후에는 도서관에 가서 책을 읽었습니다. 저녁에는 가족과 함께 저녁을 먹고 이야기를 나누었습니다. 내일은 친구들과 함께 산에 갈 예정입니다. 한국어를 배우는 것은 어렵지만 재미있습니다.
)TXT",
    R"TXT(Great job on the release! 🎉 The build is green ✅ and the benchmarks look good 🚀. Coffee first ☕, then the retrospective 🙂. Weather today: ☀️ in the morning, 🌧️ after lunch. Our team 👩‍💻👨‍💻 shipped it on time 👍👍. Happy birthday 🎂🎈 to Maria! I love this song 🎵❤️. The cat 🐱 sat on the keyboard again 😂. Vamos à praia 🏖️ no sábado? 🌊🐚 Thanks 🙏 and see you soon 👋.
)TXT",
};

// Word lists for the generated part.
const char* const kSubjects[] = {
    "The engineer",    "A small team",       "Our neighbour",    "The old teacher",   "My sister",
    "The committee",   "Every student",      "The new manager",  "A young farmer",    "The pilot",
    "The doctor",      "Two musicians",      "The city council", "A tired traveller", "The chef",
    "Her grandfather", "The research group", "A curious child",  "The captain",       "Nobody"};
const char* const kVerbs[] = {"reviewed",  "repaired",   "described", "painted", "measured",
                              "explained", "discovered", "ordered",   "cleaned", "moved",
                              "tested",    "planned",    "finished",  "started", "recorded",
                              "improved",  "carried",    "opened",    "closed",  "watched",
                              "counted",   "cooked",     "wrote",     "sold",    "built",
                              "borrowed",  "checked",    "designed",  "printed", "delivered"};
const char* const kAdjectives[] = {
    "quiet",     "broken",   "bright",      "heavy",     "ancient", "modern",   "narrow", "wooden",
    "expensive", "simple",   "crowded",     "colourful", "fragile", "enormous", "tiny",   "careful",
    "dusty",     "shiny",    "famous",      "local",     "foreign", "remote",   "gentle", "strange",
    "useful",    "familiar", "complicated", "reliable",  "green",   "silver"};
const char* const kNouns[] = {
    "bridge",   "report",  "garden",   "engine",  "window",  "library",  "kitchen",   "market",
    "station",  "harbour", "computer", "bicycle", "museum",  "theatre",  "village",   "river",
    "mountain", "letter",  "painting", "machine", "network", "database", "telescope", "orchestra",
    "building", "factory", "hospital", "school",  "airport", "festival"};
const char* const kPlaces[] = {"near the station",   "behind the old church", "in the north wing",
                               "by the river",       "on the third floor",    "at the edge of town",
                               "in the main square", "under the bridge",      "next to the bakery",
                               "across the valley",  "in the basement",       "on the hill"};
const char* const kTimes[] = {"yesterday",      "last week",     "this morning",
                              "on Monday",      "in the spring", "after lunch",
                              "before sunrise", "every Friday",  "during the holidays",
                              "late at night",  "in 1998",       "two years ago"};
const char* const kConnectors[] = {"because", "although", "while", "after", "before",
                                   "so",      "and",      "but",   "since", "even though"};
const char* const kCities[] = {"Lisbon",    "Oslo",   "Kraków",  "Zürich",    "Sevilla",
                               "Nantes",    "Tōkyō",  "Seoul",   "Montréal",  "Reykjavík",
                               "São Paulo", "Dublin", "Tallinn", "Ljubljana", "Graz",
                               "Bergen",    "Porto",  "Lyon",    "Malmö",     "Genève"};
const char* const kLevels[] = {"INFO", "WARN", "DEBUG", "ERROR"};
const char* const kEvents[] = {"request completed",  "cache miss",      "connection opened",
                               "connection closed",  "retrying upload", "config reloaded",
                               "user logged in",     "queue drained",   "checkpoint saved",
                               "slow query detected"};
const char* const kMonths[] = {"January",   "February", "March",    "April",
                               "May",       "June",     "July",     "August",
                               "September", "October",  "November", "December"};

// Larger word lists for the generated part; regular English morphology is derived in code.
const char* const kVerbBase[] = {
    "accept",    "achieve",   "add",       "adjust",     "admire",    "advise",   "allow",
    "announce",  "answer",    "appear",    "arrange",    "arrive",    "ask",      "assemble",
    "assist",    "attach",    "attempt",   "attend",     "avoid",     "balance",  "believe",
    "belong",    "borrow",    "bounce",    "breathe",    "calculate", "change",   "charge",
    "check",     "cheer",     "claim",     "clean",      "clear",     "climb",    "collect",
    "compare",   "complain",  "complete",  "confirm",    "connect",   "consider", "contain",
    "continue",  "convert",   "correct",   "count",      "cover",     "crash",    "create",
    "cross",     "damage",    "decide",    "declare",    "decorate",  "deliver",  "depend",
    "describe",  "deserve",   "design",    "destroy",    "detect",    "develop",  "disappear",
    "discover",  "divide",    "doubt",     "drain",      "dress",     "earn",     "educate",
    "employ",    "encourage", "enjoy",     "enter",      "escape",    "examine",  "excite",
    "expand",    "expect",    "explain",   "explore",    "extend",    "fasten",   "fill",
    "finish",    "float",     "fold",      "follow",     "form",      "frighten", "gather",
    "greet",     "guard",     "guess",     "guide",      "hammer",    "handle",   "happen",
    "harm",      "heat",      "help",      "hunt",       "identify",  "ignore",   "imagine",
    "impress",   "improve",   "include",   "increase",   "inform",    "insist",   "install",
    "instruct",  "intend",    "interrupt", "introduce",  "invent",    "invite",   "join",
    "jump",      "kick",      "knock",     "land",       "laugh",     "launch",   "learn",
    "lift",      "listen",    "load",      "locate",     "look",      "manage",   "mark",
    "measure",   "melt",      "mention",   "mix",        "mount",     "move",     "name",
    "need",      "notice",    "obtain",    "offer",      "open",      "order",    "organise",
    "own",       "paint",     "park",      "pass",       "perform",   "pick",     "place",
    "play",      "please",    "point",     "polish",     "possess",   "post",     "pour",
    "practise",  "praise",    "prepare",   "present",    "preserve",  "press",    "pretend",
    "prevent",   "print",     "produce",   "protect",    "provide",   "pull",     "punish",
    "push",      "question",  "reach",     "receive",    "record",    "reduce",   "reflect",
    "refuse",    "relax",     "release",   "remain",     "remember",  "remind",   "remove",
    "repair",    "repeat",    "replace",   "reply",      "report",    "request",  "rescue",
    "respect",   "return",    "review",    "reward",     "rush",      "sail",     "scatter",
    "search",    "select",    "settle",    "shape",      "share",     "shelter",  "sign",
    "smell",     "smile",     "sort",      "sound",      "spell",     "spray",    "start",
    "stay",      "steer",     "store",     "strengthen", "succeed",   "suffer",   "suggest",
    "supply",    "support",   "suppose",   "surprise",   "surround",  "suspect",  "switch",
    "talk",      "taste",     "test",      "thank",      "touch",     "tour",     "train",
    "transform", "treat",     "trust",     "turn",       "twist",     "unlock",   "use",
    "visit",     "wait",      "walk",      "want",       "warn",      "wash",     "watch",
    "welcome",   "wander",    "wonder",    "work",       "worry",     "yawn"};
const char* const kNounBase[] = {
    "account",    "actor",      "address",     "advantage", "afternoon", "agreement", "airport",
    "animal",     "answer",     "apple",       "argument",  "army",      "article",   "artist",
    "attention",  "audience",   "author",      "balloon",   "bank",      "basket",    "battery",
    "beach",      "bedroom",    "bell",        "birthday",  "blanket",   "boat",      "bottle",
    "branch",     "breakfast",  "brick",       "brother",   "brush",     "bucket",    "budget",
    "butterfly",  "button",     "cabinet",     "cable",     "calendar",  "camera",    "candle",
    "canvas",     "carpet",     "castle",      "ceiling",   "century",   "chain",     "chair",
    "chapter",    "cheese",     "cherry",      "chicken",   "chimney",   "church",    "circle",
    "citizen",    "city",       "class",       "climate",   "clock",     "cloud",     "coast",
    "coffee",     "collar",     "college",     "colour",    "comment",   "company",   "concert",
    "corner",     "cottage",    "country",     "cousin",    "crowd",     "cup",       "curtain",
    "customer",   "daughter",   "decision",    "desert",    "detail",    "diamond",   "dinner",
    "direction",  "distance",   "doctor",      "dollar",    "dragon",    "drawer",    "dream",
    "driver",     "eagle",      "election",    "elephant",  "emotion",   "employee",  "energy",
    "engineer",   "envelope",   "error",       "evening",   "event",     "example",   "exercise",
    "experiment", "expert",     "family",      "farmer",    "feather",   "fence",     "field",
    "finger",     "flower",     "forest",      "fountain",  "friend",    "garage",    "gate",
    "glass",      "government", "grandmother", "guitar",    "hammer",    "harbour",   "helmet",
    "highway",    "history",    "holiday",     "horizon",   "hospital",  "hotel",     "hour",
    "house",      "idea",       "insect",      "island",    "jacket",    "journey",   "judge",
    "jungle",     "key",        "kingdom",     "kitten",    "ladder",    "lake",      "language",
    "lantern",    "lawyer",     "lesson",      "level",     "light",     "lion",      "list",
    "lizard",     "lock",       "magazine",    "manager",   "marble",    "meadow",    "meeting",
    "member",     "memory",     "message",     "method",    "minute",    "mirror",    "moment",
    "monkey",     "month",      "morning",     "mother",    "motor",     "mountain",  "movie",
    "muscle",     "nation",     "needle",      "neighbour", "nest",      "newspaper", "number",
    "ocean",      "office",     "onion",       "orange",    "owner",     "package",   "palace",
    "pancake",    "paper",      "parent",      "passenger", "pattern",   "pencil",    "pepper",
    "period",     "picture",    "pillow",      "pilot",     "planet",    "player",    "pocket",
    "poem",       "police",     "potato",      "problem",   "process",   "product",   "program",
    "project",    "puzzle",     "question",    "rabbit",    "railway",   "reason",    "record",
    "region",     "restaurant", "result",      "ribbon",    "rocket",    "roof",      "room",
    "sailor",     "sandwich",   "scale",       "scientist", "season",    "secret",    "shadow",
    "shoulder",   "signal",     "silver",      "singer",    "sister",    "skill",     "soldier",
    "song",       "space",      "speaker",     "spider",    "spoon",     "square",    "stadium",
    "star",       "stone",      "story",       "student",   "summer",    "sunset",    "surface",
    "system",     "table",      "teacher",     "temple",    "tent",      "thunder",   "ticket",
    "tiger",      "tomato",     "tower",       "town",      "tractor",   "tree",      "trumpet",
    "tunnel",     "umbrella",   "uncle",       "valley",    "vegetable", "village",   "violin",
    "visitor",    "volcano",    "wagon",       "wallet",    "water",     "weather",   "wheel",
    "window",     "winter",     "wizard",      "worker",    "year",      "yard",      "zebra"};
const char* const kAdjBase[] = {
    "able",      "active",      "actual",   "angry",     "anxious",     "awkward",  "beautiful",
    "bitter",    "brave",       "brief",    "bright",    "broad",       "busy",     "calm",
    "careful",   "casual",      "cheap",    "clean",     "clever",      "close",    "cloudy",
    "cold",      "comfortable", "common",   "complete",  "correct",     "crazy",    "curious",
    "dangerous", "dark",        "deep",     "direct",    "dirty",       "double",   "dry",
    "eager",     "early",       "easy",     "effective", "empty",       "equal",    "exact",
    "fair",      "famous",      "fast",     "fierce",    "final",       "firm",     "foolish",
    "formal",    "fresh",       "friendly", "full",      "general",     "gentle",   "glad",
    "graceful",  "great",       "happy",    "hard",      "healthy",     "heavy",    "helpful",
    "honest",    "huge",        "humble",   "hungry",    "independent", "kind",     "large",
    "lazy",      "light",       "likely",   "little",    "lonely",      "loud",     "lucky",
    "mad",       "main",        "mild",     "modern",    "narrow",      "natural",  "nervous",
    "noisy",     "normal",      "obvious",  "odd",       "official",    "open",     "ordinary",
    "patient",   "peaceful",    "perfect",  "personal",  "plain",       "pleasant", "polite",
    "poor",      "popular",     "powerful", "practical", "pretty",      "private",  "proper",
    "proud",     "public",      "pure",     "quick",     "quiet",       "rapid",    "rare",
    "ready",     "real",        "recent",   "regular",   "rich",        "rough",    "round",
    "rude",      "sad",         "safe",     "secret",    "serious",     "sharp",    "short",
    "shy",       "silent",      "simple",   "slow",      "smart",       "smooth",   "soft",
    "solid",     "special",     "steady",   "strange",   "strict",      "strong",   "sudden",
    "sweet",     "swift",       "tender",   "thick",     "thin",        "tidy",     "tight",
    "total",     "tough",       "true",     "typical",   "useful",      "usual",    "vast",
    "violent",   "warm",        "weak",     "wealthy",   "weird",       "wide",     "wild",
    "wise",      "wrong",       "young"};
const char* const kFirstNames[] = {
    "Alice",   "Bruno",     "Chloé",  "Daniel", "Elena",   "Farid",  "Grace",  "Hiroshi", "Ingrid",
    "Jamal",   "Katarzyna", "Liam",   "Mónica", "Nikolai", "Olivia", "Pedro",  "Quentin", "Rosa",
    "Sven",    "Tamara",    "Ursula", "Viktor", "Wendy",   "Xavier", "Yuki",   "Zoë",     "Ahmed",
    "Beatriz", "Conor",     "Dagmar", "Émile",  "Fatima",  "Gustav", "Hannah", "Ivan",    "Jürgen",
    "Keiko",   "Lars",      "Magda",  "Nour",   "Oskar",   "Priya",  "Rafael", "Søren",   "Theo"};
const char* const kLastNames[] = {
    "Anderson",   "Baker",  "Castillo", "Dubois",  "Eriksen", "Fischer",  "García",  "Hoffmann",
    "Ishikawa",   "Jensen", "Kowalski", "Larsson", "Moreau",  "Nakamura", "O'Neill", "Petrov",
    "Quinn",      "Rossi",  "Schmidt",  "Tanaka",  "Urban",   "Varga",    "Wójcik",  "Young",
    "Zimmermann", "Müller", "Novák",    "Horváth", "Silva",   "Costa"};
const char* const kEuroWords[] = {
    "café",     "crème",     "déjà",    "élève",   "façade",  "garçon",     "hôtel",    "naïve",
    "noël",     "théâtre",   "forêt",   "château", "fenêtre", "être",       "très",     "où",
    "Straße",   "Mädchen",   "Brücke",  "schön",   "müde",    "Käse",       "Bäckerei", "über",
    "Größe",    "Frühling",  "niño",    "año",     "mañana",  "canción",    "corazón",  "árbol",
    "música",   "película",  "jardín",  "pájaro",  "ação",    "coração",    "irmão",    "pão",
    "avó",      "lição",     "João",    "żółty",   "źródło",  "łódź",       "gęś",      "ćma",
    "środa",    "mąka",      "květina", "řeka",    "žena",    "čas",        "škola",    "ďakujem",
    "smørbrød", "kærlighed", "blåbær",  "ö",       "Ålesund", "köttbullar", "fjäril",   "ünlü",
    "çiçek",    "göl",       "şehir"};
const char* const kCjkWords[] = {
    "天气",     "学习",     "朋友",       "电脑",           "工作",       "时间",
    "问题",     "音乐",     "城市",       "地图",           "火车",       "飞机",
    "医生",     "学生",     "老师",       "图书馆",         "咖啡",       "早上",
    "晚上",     "明天",     "昨天",       "今年",           "中国",       "北京",
    "上海",     "语言",     "东京",       "大阪",           "日本語",     "勉強",
    "会社",     "電車",     "先生",       "学校",           "映画",       "音楽",
    "料理",     "天気",     "旅行",       "ありがとう",     "こんにちは", "さようなら",
    "おはよう", "コーヒー", "ラーメン",   "コンピューター", "テレビ",     "서울",
    "부산",     "학교",     "친구",       "음악",           "사랑",       "커피",
    "시간",     "도서관",   "감사합니다", "안녕하세요"};
const char* const kEmoji[] = {
    "😀", "😂",       "🙂",   "😍", "🤔", "👍", "👏",      "🙏", "🎉", "🔥",      "✨", "🚀", "💡", "📚",
    "🌍", "🌧️", "☀️", "🍕", "☕",    "🎵", "❤️", "✅", "❌", "⚠️", "🐱", "🐶", "🌱", "🏠"};

struct Rng {  // splitmix64, fixed seed: the output must never change
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return uint32_t(next() % n); }
  template <size_t N>
  const char* pick(const char* const (&a)[N]) {
    return a[below(uint32_t(N))];
  }
};

std::string two(unsigned v) {  // zero-padded to two digits
  std::string s = std::to_string(v);
  if (s.size() < 2) s.insert(s.begin(), '0');
  return s;
}

// Every random draw is its own statement: the order in which operands of one expression are
// evaluated is unspecified in C++, and the text must be identical with every compiler.
std::string generate() {
  Rng r{0x1F2E3D4C5B6A7988ull};
  std::string o;
  auto num = [&](uint32_t n) { o += std::to_string(r.below(n)); };
  auto num2 = [&](uint32_t n, uint32_t base) { o += two(base + r.below(n)); };
  // Sentences.
  for (int p = 0; p < 260; ++p) {
    const int n = 3 + int(r.below(4));
    for (int k = 0; k < n; ++k) {
      o += r.pick(kSubjects);
      o += " ";
      o += r.pick(kVerbs);
      o += " the ";
      o += r.pick(kAdjectives);
      o += " ";
      o += r.pick(kNouns);
      o += " ";
      o += r.pick(kPlaces);
      o += " ";
      o += r.pick(kTimes);
      const uint32_t form = r.below(5);
      if (form == 0) {
        o += ", ";
        o += r.pick(kConnectors);
        o += " the ";
        o += r.pick(kNouns);
        o += " was ";
        o += r.pick(kAdjectives);
      } else if (form == 1) {
        o += " in ";
        o += r.pick(kCities);
      } else if (form == 2) {
        o += ", with ";
        o += std::to_string(2 + r.below(98));
        o += " ";
        o += r.pick(kNouns);
        o += "s";
      }
      const uint32_t end = r.below(16);
      o += end == 0 ? "! " : end == 1 ? "? " : ". ";
    }
    o += "\n";
  }
  // Log lines with timestamps and numbers.
  for (int i = 0; i < 220; ++i) {
    o += "2024-";
    num2(12, 1);
    o += "-";
    num2(28, 1);
    o += "T";
    num2(24, 0);
    o += ":";
    num2(60, 0);
    o += ":";
    num2(60, 0);
    o += ".";
    o += std::to_string(100 + r.below(900));
    o += "Z [";
    o += r.pick(kLevels);
    o += "] ";
    o += r.pick(kEvents);
    o += " id=";
    num(100000);
    o += " latency_ms=";
    num(5000);
    o += " bytes=";
    num(10000000);
    o += "\n";
  }
  // A CSV table and prose dates.
  o += "city,date,temperature_c,rain_mm,visitors\n";
  for (int i = 0; i < 160; ++i) {
    o += r.pick(kCities);
    o += ",20";
    num2(15, 10);
    o += "-";
    num2(12, 1);
    o += "-";
    num2(28, 1);
    o += ",";
    if (r.below(5) == 0) o += "-";
    num(35);
    o += ".";
    num(10);
    o += ",";
    num(120);
    o += ".";
    num(10);
    o += ",";
    num(250000);
    o += "\n";
  }
  for (int i = 0; i < 90; ++i) {
    o += "On ";
    o += r.pick(kMonths);
    o += " ";
    o += std::to_string(1 + r.below(28));
    o += ", ";
    o += std::to_string(1900 + r.below(125));
    o += ", the ";
    o += r.pick(kNouns);
    o += " in ";
    o += r.pick(kCities);
    o += " cost $";
    num(100000);
    o += ".";
    num2(100, 0);
    o += " and weighed ";
    num(5000);
    o += " kg (about ";
    num(100);
    o += "%).\n";
  }
  // Small JSON records and Python / C++ lines built from the same lists.
  for (int i = 0; i < 120; ++i) {
    o += "{\"id\": " + std::to_string(i) + ", \"city\": \"";
    o += r.pick(kCities);
    o += "\", \"item\": \"";
    o += r.pick(kNouns);
    o += "\", \"price\": ";
    num(1000);
    o += ".";
    num2(100, 0);
    o += ", \"in_stock\": ";
    o += r.below(2) ? "true" : "false";
    o += "}\n";
  }
  for (int i = 0; i < 120; ++i) {
    const std::string a = r.pick(kNouns);
    const std::string b = r.pick(kAdjectives);
    if (r.below(2)) {
      o += "    " + b + "_" + a + " = compute_" + a + "(";
      num(64);
      o += ", scale=";
      num(10);
      o += ".";
      num(10);
      o += ")\n";
    } else {
      o += "  const auto " + b + "_" + a + " = make_" + a + "(";
      num(64);
      o += ");  // ";
      o += r.pick(kTimes);
      o += "\n";
    }
  }
  return o;
}

// Derived English forms (regular rules only; the lists avoid irregular words).
bool is_vowel(char c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}
bool ends_with(const std::string& w, const char* e) {
  const std::string s(e);
  return w.size() >= s.size() && w.compare(w.size() - s.size(), s.size(), s) == 0;
}
std::string plural(const std::string& w) {  // also the verb's third person
  if (w.size() > 1 && w.back() == 'y' && !is_vowel(w[w.size() - 2]))
    return w.substr(0, w.size() - 1) + "ies";
  if (ends_with(w, "s") || ends_with(w, "sh") || ends_with(w, "ch") || ends_with(w, "x"))
    return w + "es";
  return w + "s";
}
std::string past(const std::string& w) {
  if (w.back() == 'e') return w + "d";
  if (w.size() > 1 && w.back() == 'y' && !is_vowel(w[w.size() - 2]))
    return w.substr(0, w.size() - 1) + "ied";
  return w + "ed";
}
std::string gerund(const std::string& w) {
  if (w.back() == 'e' && !ends_with(w, "ee")) return w.substr(0, w.size() - 1) + "ing";
  return w + "ing";
}
std::string adverb(const std::string& w) {
  if (w.size() > 1 && w.back() == 'y' && !is_vowel(w[w.size() - 2]))
    return w.substr(0, w.size() - 1) + "ily";
  if (ends_with(w, "le")) return w.substr(0, w.size() - 1) + "y";
  return w + "ly";
}
std::string capital(std::string w) {
  if (!w.empty() && w[0] >= 'a' && w[0] <= 'z') w[0] = char(w[0] - 'a' + 'A');
  return w;
}

// A second generated section: sentences over the large lists, names, numbers 000..999,
// European and CJK words, emoji. Same rule as generate(): one random draw per statement.
std::string generate_lexicon() {
  Rng r{0x5EED0F1F0A2Bull};
  std::string o;
  for (int p = 0; p < 300; ++p) {
    const int n = 2 + int(r.below(4));
    for (int k = 0; k < n; ++k) {
      const uint32_t shape = r.below(6);
      const std::string first = r.pick(kFirstNames);
      const std::string last = r.pick(kLastNames);
      const std::string verb = r.pick(kVerbBase);
      const std::string adj = r.pick(kAdjBase);
      const std::string noun = r.pick(kNounBase);
      const std::string noun2 = r.pick(kNounBase);
      const std::string adj2 = r.pick(kAdjBase);
      switch (shape) {
        case 0:
          o += first + " " + last + " " + past(verb) + " the " + adj + " " + plural(noun) + " " +
               adverb(adj2) + ".";
          break;
        case 1:
          o += capital(plural(noun)) + " " + plural(verb) + " " + adverb(adj) + " when the " +
               noun2 + " is " + adj2 + ".";
          break;
        case 2:
          o += "Is " + first + " still " + gerund(verb) + " the " + noun + "? The " +
               plural(noun2) + " look " + adj + ".";
          break;
        case 3:
          o += "After " + gerund(verb) + " the " + adj + " " + noun + ", " + first + " wanted to " +
               verb + " it again.";
          break;
        case 4:
          o += "The " + noun + "'s " + noun2 + " wasn't " + adj + "; it was " + adj2 + ", and " +
               first + "'ll " + verb + " it.";
          break;
        default:
          o += capital(adj) + " " + plural(noun) + " and " + adj2 + " " + plural(noun2) + " " +
               past(verb) + " together.";
          break;
      }
      o += " ";
    }
    o += "\n";
  }
  // Every three-digit group twice, in shuffled order, plus shorter numbers and decimals.
  std::vector<int> nums;
  for (int rep = 0; rep < 2; ++rep)
    for (int i = 0; i < 1000; ++i) nums.push_back(i);
  for (size_t i = nums.size(); i > 1; --i) {
    const size_t j = r.below(uint32_t(i));
    std::swap(nums[i - 1], nums[j]);
  }
  for (size_t i = 0; i < nums.size(); ++i) {
    const int v = nums[i];
    const uint32_t style = r.below(4);
    if (style == 0) o += "item " + std::to_string(v) + ": ";
    if (style == 1) o += "#" + two(unsigned(v / 10)) + std::to_string(v % 10) + " ";
    if (style == 2) o += std::to_string(v) + "." + std::to_string(v % 7) + " ";
    if (style == 3) o += "(" + std::to_string(v) + ") ";
    if (i % 12 == 11) o += "\n";
  }
  o += "\n";
  // Glossary lines with accented words, names, CJK words and emoji.
  for (int i = 0; i < 500; ++i) {
    const std::string a = r.pick(kEuroWords);
    const std::string b = r.pick(kEuroWords);
    const std::string c = r.pick(kCjkWords);
    const std::string d = r.pick(kCjkWords);
    const std::string e = r.pick(kEmoji);
    const std::string city = r.pick(kCities);
    const uint32_t shape = r.below(4);
    if (shape == 0) o += a + " — " + b + " (" + city + ")\n";
    if (shape == 1) o += c + d + "，" + a + "。" + e + "\n";
    if (shape == 2) o += "“" + capital(a) + "” " + e + " " + b + ", " + c + "\n";
    if (shape == 3) o += city + ": " + c + " / " + d + " " + e + e + "\n";
  }
  return o;
}

std::string build() {
  std::string s;
  for (const char* t : kProse) s += t, s += "\n";
  for (const char* t : kCode) s += t, s += "\n";
  for (const char* t : kWorld) s += t, s += "\n";
  s += generate();
  s += generate_lexicon();
  return s;
}

}  // namespace

std::string_view builtin_training_corpus() {
  static const std::string corpus = build();
  return corpus;
}

}  // namespace lfmd
