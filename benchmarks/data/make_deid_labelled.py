"""Writes the de-identification labelled sets deid_labelled_en.jsonl and deid_labelled_zh.jsonl.

Everything here is made up by hand for this project: sentence frames of the shapes seen in real
consultations (turns, sign-offs, self-introductions, referrals, family members, titles, phones, IDs,
addresses, birth dates, URLs) with typed slots, and look-alike sentences that must be kept whole
(place names, drug names, clinical words, eponyms). Each PII frame is filled three times from filler
pools (names from many origins, including rare Chinese surnames and English names that are also words);
the pools were written before the scrubber was tuned on them and are not read by it.

Each output line: {"id", "lang", "kind": "pii"|"lookalike", "text", "spans": [{"start", "end", "type"}]}
with character offsets into ``text``. Run: python benchmarks/data/make_deid_labelled.py
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

EN_FIRST = [
    "Bhagyesh",
    "Chaitanya",
    "Anders",
    "Priya",
    "Oluwaseun",
    "Siobhan",
    "Tomasz",
    "Rahul",
    "Fatima",
    "Kwame",
    "Ingrid",
    "Diego",
    "Aisha",
    "Yusuf",
    "Hana",
    "Lars",
    "Emeka",
    "Nadia",
    "Ravi",
    "Sofia",
    "Mateo",
    "Olga",
    "Kenji",
    "Grace",
    "Hope",
    "Deepika",
    "Marcus",
    "Leilani",
    "Bogdan",
    "Thandiwe",
    "Jamal",
    "Eleanor",
    "Wei",
    "Arjun",
    "Camille",
    "Dmitri",
    "Amara",
    "Soren",
    "Lucia",
    "Tariq",
]
EN_LAST = [
    "Patel",
    "Christensen",
    "Okafor",
    "Nakamura",
    "Kowalski",
    "Garcia",
    "O'Brien",
    "McAllister",
    "Nguyen",
    "Haddad",
    "Lindqvist",
    "Mensah",
    "Fernandes",
    "Petrov",
    "Schmidt",
    "Osei",
    "Ramirez",
    "Iyer",
    "Achterberg",
    "Dubois",
    "Kaur",
    "Tanaka",
    "Novak",
    "Adeyemi",
    "Reyes",
    "Bergstrom",
    "Chowdhury",
    "Moreau",
]
EN_FULL = [
    "Bhagyesh V. Patel",
    "Anders Mark Christensen",
    "Priya Iyer",
    "Oluwaseun Adeyemi",
    "Siobhan O'Brien",
    "Tomasz Kowalski",
    "Kenji Nakamura",
    "Fatima Haddad",
    "Ingrid Lindqvist",
    "Diego Ramirez",
    "Grace Okafor",
    "Marcus J. Reyes",
    "Camille Dubois",
    "Arjun Chowdhury",
    "Leilani Kaur",
    "Eleanor McAllister",
    "Kwame Mensah",
    "Sofia Fernandes",
    "Dmitri Petrov",
    "Amara Osei",
    "Hope Tanaka",
    "Lars Bergstrom",
]
EN_PHONE = [
    "(555) 123-4567",
    "+1 415 555 0199",
    "555-867-5309",
    "+44 20 7946 0958",
    "415.555.0142",
    "+91 98765 43210",
    "(212) 555-0187",
    "+61 2 9374 4000",
]
EN_EMAIL = [
    "priya.iyer@example.com",
    "k.nakamura@clinicmail.org",
    "dr_okafor@hospital.example.net",
    "lars.b@example.se",
    "fhaddad+notes@example.co.uk",
    "amara.osei@example.org",
]
EN_ID = ["88231-A", "MR-00451239", "4471902", "ZX99812", "P-200314-77", "HX5521908"]
EN_SSN = ["123-45-6789", "078-05-1120", "219-09-9999"]
EN_ADDR = [
    "42 Maple Grove Street",
    "17 Harbour View Road",
    "1290 Oak Ridge Drive, Apt 4B",
    "8 Lantern Lane",
    "350 Fifth Avenue",
    "73 Kingsley Court",
    "221 Baker Street",
    "5 Willow Creek Boulevard, Suite 210",
]
EN_DOB = [
    "03/07/1985",
    "March 7, 1985",
    "1979-11-23",
    "14 February 1992",
    "12/30/1968",
    "July 4th, 2001",
    "1958/02/17",
    "9 Oct 1990",
]
EN_URL = [
    "https://clinic.example.org/patients/4471",
    "www.myhealthrecord.example.com/u/priya",
    "http://tinyurl.example/x9f2",
    "https://portal.example-hospital.net/chart?id=88231",
]

EN_FRAMES = [
    "Regards, Dr. {NAME:full}",
    "Kind regards,\nDr. {NAME:full}",
    "Thanks, {NAME:first}",
    "Best wishes, {NAME:full}",
    "Hi, I am {NAME:first}, 27 years old, and I have had a cough for two weeks.",
    "Hello doctor, my name is {NAME:full} and I am 45.",
    "Hi Dr. {NAME:last}, I took the metformin as you said.",
    "This is {NAME:first} again, the rash is spreading.",
    "I'm {NAME:first}, a 34 year old teacher with migraines.",
    "Dr. {NAME:full} referred me to the cardiology clinic.",
    "Please see Dr. {NAME:last} in the neurology department.",
    "My husband {NAME:first} has had chest pain since Monday.",
    "My daughter, {NAME:first}, is 6 and has a fever of 39 C.",
    "My mother {NAME:full} was diagnosed with type 2 diabetes last year.",
    "Nurse {NAME:first} said the wound looks clean.",
    "Prof. {NAME:last} suggested an MRI of the lumbar spine.",
    "You can ask {NAME:full} at the front desk for the forms.",
    "Mr. {NAME:last} is a 67 year old man with COPD.",
    "Mrs. {NAME:full} came in with abdominal pain.",
    "Ms. {NAME:last} reports palpitations after coffee.",
    "Call me at {PHONE} if the swelling gets worse.",
    "My number is {PHONE}, please text before calling.",
    "You can reach the clinic on {PHONE} between 9 and 5.",
    "Email me the report at {EMAIL}.",
    "Send the lab results to {EMAIL} please.",
    "My MRN: {ID} from the last admission.",
    "Medical record number {ID}, admitted on the ward.",
    "Patient ID: {ID}",
    "Insurance no. {ID} is on the card.",
    "SSN {SSN} on the claim form.",
    "I live at {ADDRESS} near the park.",
    "Home address: {ADDRESS}.",
    "Please send the letter to {ADDRESS}.",
    "DOB: {DOB}",
    "Date of birth {DOB}, female.",
    "I was born on {DOB} and have asthma.",
    "The portal link is {URL}",
    "Upload the photo to {URL} before Friday.",
    "Thank you doctor. Regards, {NAME:full}",
    "Hi, this is {NAME:full}, {PHONE}, about my father's blood pressure.",
    "Dr. {NAME:first} {NAME:last} and Nurse {NAME:first} saw me yesterday.",
    "Yours sincerely, {NAME:full}, {EMAIL}",
    "Sincerely,\n{NAME:full}\n{PHONE}",
    "Hello, I am {NAME:full}. My son {NAME:first} has a sore throat.",
    "My wife {NAME:first} ({PHONE}) will bring him in.",
    "{NAME:full} said the pain started after lifting boxes.",
    "Could {NAME:first} get the second dose of the vaccine?",
    "Ask for Dr. {NAME:full} at {ADDRESS}.",
    "Cheers, {NAME:first}",
    "Thanks again Dr. {NAME:last}!",
    "Take care, {NAME:full}",
    "Hi Doctor, I'm {NAME:first} and my brother {NAME:first} has the same symptoms.",
    "Patient {NAME:full}, DOB {DOB}, MRN {ID}.",
    "My grandmother {NAME:first} is 82 and on warfarin.",
    "I saw Dr. {NAME:full} last week, she ordered a thyroid panel.",
    "Contact {NAME:full} at {EMAIL} or {PHONE}.",
    "Referred by Dr. {NAME:full} for an echocardiogram.",
]

EN_LOOKALIKE = [
    "Parkinson disease was diagnosed three years ago.",
    "The Apgar score was 9 at five minutes.",
    "He has Crohn's disease and takes azathioprine.",
    "She was treated for Bell's palsy with prednisone.",
    "Hodgkin lymphoma is in remission after chemotherapy.",
    "Graves disease can cause palpitations and weight loss.",
    "Cushing syndrome is unlikely with a normal cortisol.",
    "Down syndrome increases the risk of heart defects.",
    "Alzheimer disease runs in my family.",
    "A Glasgow Coma Scale of 15 is normal.",
    "The Gleason score of the biopsy was 7.",
    "Wilson disease affects copper metabolism.",
    "Addison disease needs lifelong steroids.",
    "Huntington disease is inherited.",
    "Guillain-Barre syndrome followed the infection.",
    "Turner syndrome was confirmed by karyotype.",
    "Take Tylenol 500 mg every six hours.",
    "I started Lipitor and Metformin last month.",
    "Advil helps with the headache but not the nausea.",
    "She uses a Ventolin inhaler twice a day.",
    "Doctor, I have been having panic attacks.",
    "Hope you feel better soon.",
    "May I take ibuprofen with this?",
    "Will the swelling go down in a week?",
    "Grace period for the insurance is 30 days.",
    "I am diabetic and my sugar is 180 mg/dL.",
    "I am 34 years old, 70 kg, temperature 38.5 C.",
    "Blood pressure is 130/85 mmHg and pulse 92.",
    "White cell count 12.3 x 10^9/L.",
    "I took 500 mg twice on 2026-11-03.",
    "The ECG showed sinus rhythm at 72 beats per minute.",
    "I moved from Chicago to Boston last year.",
    "We visited Paris and London in the summer.",
    "I work at the General Hospital emergency department.",
    "The Mayo Clinic guidelines say to rest.",
    "Type 2 diabetes was found on routine testing.",
    "Stage III colon cancer was resected.",
    "The Babinski sign was negative.",
    "Murphy's sign was positive on examination.",
    "Kernig and Brudzinski signs were absent.",
    "The Whipple procedure took six hours.",
    "She had a Pap smear in March.",
    "The Valsalva maneuver stopped the tachycardia.",
    "Christmas is when my symptoms get worse.",
    "On Monday the fever came back.",
    "I am Indian and vegetarian.",
    "Good morning Doctor, thanks for your time.",
    "Hi Doctor, I have a question about my MRI.",
    "Thank you, Doctor. I will follow your advice.",
    "Dear Sir, my father has dementia.",
    "Patient: I have a sore throat. Doctor: Any fever?",
    "The Epley maneuver helps with vertigo.",
    "Raynaud phenomenon makes my fingers white in the cold.",
    "Barrett esophagus needs regular endoscopy.",
    "The CURB-65 score was 2.",
    "Lyme disease is common in this area.",
    "Zika virus testing was negative.",
    "He has Asperger syndrome and anxiety.",
    "Tourette syndrome was diagnosed in childhood.",
    "Bence Jones protein was found in the urine.",
    "The Heimlich maneuver cleared the airway.",
    "I take Synthroid every morning.",
    "Xanax makes me sleepy.",
    "I was prescribed Zoloft 50 mg.",
    "A Holter monitor recorded two pauses.",
    "Pneumonia was confirmed on the chest X-ray.",
    "The HbA1c is 7.2 percent.",
    "Ferritin is 12 ng/mL, so iron deficiency is likely.",
    "The Denver II test showed normal development.",
    "Kaplan-Meier curves were shown at the meeting.",
    "I am from Texas and allergic to penicillin.",
    "The Foley catheter was removed on day 3.",
    "Fallot tetralogy was repaired in infancy.",
    "Ewing sarcoma of the femur was treated.",
    "Hashimoto thyroiditis explains the fatigue.",
    "Sjogren syndrome causes dry eyes.",
    "The Wells score for DVT was 1.",
    "Tanner stage 2 is normal at this age.",
    "I use Lantus at night and Humalog with meals.",
]

ZH_NAMES = [
    "徐丹枫",
    "晁康",
    "张伟",
    "王秀兰",
    "李建国",
    "陈晓东",
    "刘洋",
    "欧阳娜娜",
    "孙立新",
    "赵丽华",
    "周杰伦",
    "吴婷婷",
    "郑国强",
    "何静",
    "冯雪梅",
    "韩磊",
    "贲志远",
    "仉学敏",
    "郗红",
    "林晓峰",
    "黄海燕",
    "杨帆",
    "马国庆",
    "高峰",
    "宋佳",
    "胡志明",
    "罗晓丹",
    "谢婉清",
    "曹辉",
    "邓子豪",
    "蒋雨桐",
    "沈括",
]
ZH_SURNAME = ["王", "李", "张", "刘", "陈", "马", "任", "黄", "蒋", "吴", "周", "高", "徐", "潘", "雷", "晁"]
ZH_GIVEN = ["小红", "明明", "乐乐", "子涵", "欣怡", "浩然", "丽丽", "建华"]
ZH_PHONE = [
    "13800138000",
    "139 1234 5678",
    "186-0102-3344",
    "010-62345678",
    "0755-86001234",
    "+86 138 0013 8000",
    "15912345678",
    "021-54321098",
]
ZH_ID = ["110105199003071234", "44030119851123002X", "320102197802150016", "510104200105203318"]
ZH_RECORD = ["ZY2026001", "MZ-20261103-77", "88231905", "BA2025-0912"]
ZH_ADDR = [
    "北京市朝阳区建国路88号3单元",
    "上海市徐汇区漕溪北路120号",
    "广东省深圳市南山区科技园路6号2栋1001室",
    "杭州市西湖区文三路259号",
    "成都市武侯区人民南路四段11号",
    "阳光花园小区5栋2单元301室",
    "河南省南阳市宛城区",
    "武汉市江汉区解放大道1277号",
]
ZH_DOB = ["1990年3月7日", "1985年11月23日", "1972-05-18", "2001年6月1日"]
ZH_EMAIL = ["wxm@example.cn", "zhang.wei@example.com", "liujy2026@example.net.cn"]
ZH_URL = ["https://www.example-yiyuan.cn/guahao", "http://m.example.com/report/8823", "www.example-health.cn/p/12"]
ZH_TITLES = ["医生", "主任", "大夫", "教授"]

ZH_FRAMES = [
    "昨天{NAME:full}{TITLE}开了曲普瑞林，今天打了第一针。",
    "门诊找{NAME:full}{TITLE}看一下就行。",
    "我是{NAME:full}，今年35岁。",
    "我叫{NAME:full}，咳嗽两周了。",
    "谢谢{NAME:sur}{TITLE}，我明天去复查。",
    "{NAME:full}{TITLE}说没什么大问题。",
    "我妈妈{NAME:full}今年68岁，有高血压。",
    "我爸爸{NAME:full}做了心脏支架。",
    "我女儿{NAME:given}发烧三天了。",
    "我儿子{NAME:given}咳嗽，晚上睡不好。",
    "建议去协和医院找{NAME:full}{TITLE}看看。",
    "{NAME:sur}{TITLE}，我的化验单出来了。",
    "您好{NAME:sur}{TITLE}，我想问一下用药的事。",
    "麻烦{NAME:sur}{TITLE}给看一下CT片子。",
    "患者{NAME:full}，男，45岁，发热3天。",
    "患者{NAME:full}，女，62岁，反复胸闷。",
    "姓名：{NAME:full}，性别：男。",
    "我老公{NAME:full}最近总是失眠。",
    "我的电话是{PHONE}，有结果请通知我。",
    "有问题打我手机{PHONE}。",
    "联系电话：{PHONE}",
    "身份证号{ID}。",
    "我的身份证是{ID}，医保能报吗？",
    "病历号：{RECORD}",
    "住院号{RECORD}，在呼吸科。",
    "门诊号：{RECORD}，挂的是心内科。",
    "我住在{ADDRESS}。",
    "家庭住址：{ADDRESS}",
    "请把报告寄到{ADDRESS}。",
    "出生日期：{DOB}。",
    "我{DOB}出生，有哮喘病史。",
    "邮箱{EMAIL}，麻烦把报告发给我。",
    "可以发到我的邮箱：{EMAIL}",
    "在{URL}上可以挂号。",
    "报告可以在{URL}查看。",
    "病人：谢谢{NAME:sur}{TITLE}。请问我父亲的情况需要住院吗？",
    "医生：你好，我是{NAME:sur}{TITLE}，请说一下症状。",
    "病人：{NAME:full}{TITLE}，我吃了药还是发烧。",
    "听{NAME:sur}{TITLE}说这个病要长期吃药。",
    "上次是{NAME:full}{TITLE}给我做的胃镜。",
    "我约了{NAME:full}{TITLE}下周二的号。",
    "我奶奶{NAME:full}八十多岁了，腿肿。",
    "{NAME:full}，男，32岁，电话{PHONE}。",
    "预约医生：{NAME:full}。",
    "我是{NAME:full}的家属，电话{PHONE}。",
    "感谢{NAME:full}{TITLE}的耐心解答！",
    "上海瑞金医院的{NAME:sur}{TITLE}建议手术。",
    "我哥哥{NAME:full}也有同样的症状。",
    "请问{NAME:sur}{TITLE}明天出诊吗？",
    "{NAME:sur}{TITLE}您好，我是上次那个咳嗽的病人。",
    "您好，我是{NAME:full}，身份证{ID}，住在{ADDRESS}。",
    "我丈夫{NAME:full}，电话{PHONE}，麻烦回个电话。",
    "患者{NAME:sur}某，女，50岁。",
    "主治医生是{NAME:full}{TITLE}。",
]

ZH_LOOKALIKE = [
    "我是桂林人，在北京工作。",
    "出院时医生表示恢复得不错。",
    "请复查医生决定是否停药。",
    "主任医生建议做增强CT。",
    "谢谢医生，我明白了。",
    "当时医生说是肺炎。",
    "病房医生让复查血常规。",
    "我是河南南阳人。",
    "我来自石家庄。",
    "帕金森病需要长期服药。",
    "阿尔茨海默病的早期症状是记忆力下降。",
    "甘露醇可以降颅压。",
    "白蛋白偏低需要补充营养。",
    "阿莫西林是抗生素。",
    "布洛芬可以退烧。",
    "连花清瘟颗粒可以吃吗？",
    "蒲地蓝消炎片一天三次。",
    "吃了安神补脑液睡得好一点。",
    "多喝白开水，注意休息。",
    "我明白了，谢谢您。",
    "是过敏体质吗？",
    "康复以后还要复查吗？",
    "这段时间一直咳嗽。",
    "陈旧性病灶不需要处理。",
    "体温38.5℃，血压130/85 mmHg。",
    "白细胞12.3×10^9/L，中性粒细胞偏高。",
    "血糖7.8mmol/L，偏高。",
    "去年在武汉住院半个月。",
    "我在深圳出差的时候发的烧。",
    "马来酸氯苯那敏可以止痒。",
    "华法林要定期查凝血。",
    "曲普瑞林是每月打一针吗？",
    "金黄色葡萄球菌感染要用抗生素。",
    "高血压要长期吃药。",
    "黄疸指数偏高。",
    "主治医生查房时说可以出院了。",
    "护士长说明天早上抽血。",
    "医生：您好，请问有什么不舒服？",
    "病人：咳嗽三天了，有点低烧。",
    "医生：建议做个胸部CT。",
    "患者：谢谢医生。",
    "请到呼吸科门诊就诊。",
    "心内科的医生说心电图正常。",
    "石家庄的医院也可以做这个检查。",
    "吃了蒙脱石散止泻。",
    "右美沙芬可以止咳。",
    "孟鲁司特钠晚上吃一片。",
    "盐酸氨溴索口服液一天三次。",
    "阿奇霉素吃三天停四天。",
    "小柴胡颗粒可以预防感冒吗？",
    "左氧氟沙星不能和牛奶一起吃。",
    "头孢类药物过敏怎么办？",
    "双黄连口服液有用吗？",
    "金银花颗粒可以清热。",
    "白求恩医院离我家很近。",
    "我是高三学生，最近压力大。",
    "我是二胎妈妈，孩子三个月。",
    "我是过敏性鼻炎患者。",
    "我是本地人，医保在这里。",
    "医生说是病毒性感冒。",
    "复查时请带上病历。",
    "住院时医生查房很仔细。",
    "请问这个药饭前吃还是饭后吃？",
    "主任查房后决定手术。",
    "建议去三甲医院的感染科看看。",
    "教授门诊需要提前预约。",
    "老师说孩子在学校咳嗽。",
    "大夫让我多休息。",
    "乙肝表面抗原阳性要治疗吗？",
    "新冠核酸检测阴性。",
    "我是湖北人，春节回了老家。",
    "我来自广东，现在在上海上班。",
    "孩子3岁，体重15公斤。",
    "去年12月做过胃镜。",
    "阿斯美可以止咳平喘。",
    "伏立康唑要查血药浓度。",
    "奥司他韦要在48小时内吃。",
    "钙片和维生素D一起吃。",
    "医生：这个情况先观察，有变化随时复诊。",
]

# ---- held-out set: frames and pools written AFTER the scrubber was tuned on the sets above, never tuned on
HO_EN_FIRST = [
    "Nkechi",
    "Rohan",
    "Maeve",
    "Joaquin",
    "Svetlana",
    "Tevita",
    "Ayesha",
    "Callum",
    "Min-jun",
    "Beatriz",
    "Oskar",
    "Zanele",
    "Faith",
    "Ibrahim",
    "Yuki",
    "Declan",
]
HO_EN_LAST = [
    "Eze",
    "Malhotra",
    "Gallagher",
    "Castillo",
    "Ivanova",
    "Fifita",
    "Siddiqui",
    "MacLeod",
    "Park",
    "Souza",
    "Nilsson",
    "Dlamini",
    "Whitfield",
    "Al-Masri",
    "Sato",
    "Byrne",
]
HO_EN_FULL = [
    "Nkechi A. Eze",
    "Rohan Malhotra",
    "Maeve Gallagher",
    "Joaquin Castillo",
    "Svetlana Ivanova",
    "Tevita Fifita",
    "Ayesha Siddiqui",
    "Callum MacLeod",
    "Beatriz Souza",
    "Ibrahim Al-Masri",
    "Faith Whitfield",
]
HO_EN_PHONE = ["(617) 555-0143", "+1 312 555 0178", "+353 1 555 0192", "555 010 4477"]
HO_EN_FRAMES = [
    "Warm regards, {NAME:full}",
    "Doc, I'm {NAME:first} and I can't sleep since the surgery.",
    "I'm writing about my son {NAME:first}, he is 4.",
    "My partner {NAME:full} has the same rash.",
    "Best,\n{NAME:first}",
    "Dr. {NAME:last} told me to stop the statin.",
    "Please forward this to Dr. {NAME:full}.",
    "I was seen by Nurse {NAME:full} in triage.",
    "Thanks so much, {NAME:full}",
    "{NAME:first} here, the fever is back.",
    "Hello, my name's {NAME:first} {NAME:last}, 52, male.",
    "My sister {NAME:first} takes the same pills.",
    "You can phone me on {PHONE} after six.",
    "Ring {PHONE} and ask for {NAME:full}.",
    "Is Dr. {NAME:first} {NAME:last} available on Tuesday?",
    "I spoke with {NAME:full} from the pharmacy yesterday.",
]
HO_EN_LOOK = [
    "Meniere disease causes my dizziness.",
    "The Romberg test was positive.",
    "I take Eliquis twice daily.",
    "She has Hashimoto disease and takes levothyroxine.",
    "I went to Florida for a week and got sunburned.",
    "Hi doc, quick question about my blood test.",
    "The Mantoux test was read after 72 hours.",
    "Will this medicine make me drowsy?",
    "Grace, the nurse on duty, was kind.",  # a name: labelled below
    "Cheers doc, that helps a lot.",
    "My Fitbit says my heart rate is 110 at rest.",
    "He had a Colles fracture of the wrist.",
    "Kawasaki disease was suspected in the child.",
    "We moved to Seattle in June.",
    "Tell me about Lyme disease symptoms.",
    "Sincerely, a worried mother",
]
HO_ZH_NAMES = ["钱文涛", "于晓梅", "柯振东", "薛佳宁", "褚明远", "公孙兰", "单丽", "查海生", "冼伟光", "车晓"]
HO_ZH_SURNAME = ["钱", "于", "柯", "薛", "褚", "单", "冼", "车"]
HO_ZH_PHONE = ["17712345678", "0571-87654321", "135 7788 9900"]
HO_ZH_FRAMES = [
    "医生好，我是{NAME:full}，上周来看过。",
    "挂的是{NAME:full}{TITLE}的号。",
    "{NAME:sur}{TITLE}说要住院观察。",
    "我外婆{NAME:full}血压一直降不下来。",
    "辛苦{NAME:sur}{TITLE}了！",
    "患者{NAME:full}，男，70岁，咳嗽咳痰一月。",
    "本人{NAME:full}，电话{PHONE}。",
    "请{NAME:full}{TITLE}帮忙看一下报告。",
    "我和{NAME:sur}{TITLE}约了明天复诊。",
    "家属{NAME:full}签字同意手术。",
    "我朋友{NAME:full}推荐我来找您。",
    "谢谢您，{NAME:sur}{TITLE}！",
]
HO_ZH_LOOK = [
    "我是湖南长沙人，在广州上班。",
    "复诊时医生说恢复得很好。",
    "出院后医生交代要忌口。",
    "值班医生半夜来看过。",
    "我是独生子女，父母都有高血压。",
    "头孢克肟吃了三天。",
    "甲钴胺可以营养神经。",
    "丁香园上说可以吃。",
    "我在哈尔滨，最近很冷。",
    "同仁医院的眼科很有名。",
    "医生，我明白您的意思了。",
    "主任医师门诊要提前挂号。",
    "吃了安宫牛黄丸有用吗？",
    "林可霉素能和布洛芬一起吃吗？",
    "马上就去医院。",
    "高烧三天不退怎么办？",
]
HO_FILL = {
    "en": {"PHONE": HO_EN_PHONE, "NAME:first": HO_EN_FIRST, "NAME:last": HO_EN_LAST, "NAME:full": HO_EN_FULL},
    "zh": {
        "PHONE": HO_ZH_PHONE,
        "NAME:full": HO_ZH_NAMES,
        "NAME:sur": HO_ZH_SURNAME,
        "TITLE": ["医生", "主任", "大夫", "教授"],
    },
}

FILL = {
    "en": {
        "PHONE": EN_PHONE,
        "EMAIL": EN_EMAIL,
        "ID": EN_ID,
        "SSN": EN_SSN,
        "ADDRESS": EN_ADDR,
        "DOB": EN_DOB,
        "URL": EN_URL,
        "NAME:first": EN_FIRST,
        "NAME:last": EN_LAST,
        "NAME:full": EN_FULL,
    },
    "zh": {
        "PHONE": ZH_PHONE,
        "EMAIL": ZH_EMAIL,
        "ID": ZH_ID,
        "RECORD": ZH_RECORD,
        "ADDRESS": ZH_ADDR,
        "DOB": ZH_DOB,
        "URL": ZH_URL,
        "NAME:full": ZH_NAMES,
        "NAME:sur": ZH_SURNAME,
        "NAME:given": ZH_GIVEN,
        "TITLE": ZH_TITLES,
    },
}
TYPE_OF = {"SSN": "ID", "RECORD": "ID", "TITLE": None}
SLOT = re.compile(r"\{([A-Z]+(?::[a-z]+)?)\}")


def fill(frame: str, lang: str, cursor: dict, pools: dict | None = None) -> dict:
    text, spans, last = "", [], 0
    for m in SLOT.finditer(frame):
        text += frame[last : m.start()]
        key = m.group(1)
        pool = (pools or FILL)[lang][key]
        value = pool[cursor[key] % len(pool)]
        cursor[key] += 1
        kind = TYPE_OF.get(key.split(":")[0], key.split(":")[0])
        if kind:
            spans.append({"start": len(text), "end": len(text) + len(value), "type": kind})
        text += value
        last = m.end()
    text += frame[last:]
    return {"text": text, "spans": spans}


def build(lang: str, frames: list[str], lookalikes: list[str], copies: int = 5) -> list[dict]:
    cursor = dict.fromkeys(FILL[lang], 0)
    rows = []
    for _copy, frame in itertools.product(range(copies), frames):
        rows.append({"lang": lang, "kind": "pii", **fill(frame, lang, cursor)})
    rows += [{"lang": lang, "kind": "lookalike", "text": t, "spans": []} for t in lookalikes]
    for i, r in enumerate(rows):
        r["id"] = f"{lang}-{i:04d}"
    return [{"id": r["id"], **{k: v for k, v in r.items() if k != "id"}} for r in rows]


def build_heldout(lang: str, frames: list[str], lookalikes: list[str], copies: int = 3) -> list[dict]:
    cursor = dict.fromkeys(HO_FILL[lang], 0)
    rows = [
        {"lang": lang, "kind": "pii", **fill(f, lang, cursor, HO_FILL)}
        for _, f in itertools.product(range(copies), frames)
    ]
    for t in lookalikes:
        spans = [{"start": 0, "end": 5, "type": "NAME"}] if t.startswith("Grace, the nurse") else []
        rows.append({"lang": lang, "kind": "pii" if spans else "lookalike", "text": t, "spans": spans})
    return [{"id": f"{lang}-ho-{i:04d}", **r} for i, r in enumerate(rows)]


def main() -> None:
    for lang, frames, looks in (("en", EN_FRAMES, EN_LOOKALIKE), ("zh", ZH_FRAMES, ZH_LOOKALIKE)):
        rows = build(lang, frames, looks)
        path = HERE / f"deid_labelled_{lang}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(
            f"{path.name}: {len(rows)} sentences ({sum(r['kind'] == 'pii' for r in rows)} with PII, "
            f"{sum(len(r['spans']) for r in rows)} spans)"
        )
    for lang, frames, looks in (("en", HO_EN_FRAMES, HO_EN_LOOK), ("zh", HO_ZH_FRAMES, HO_ZH_LOOK)):
        rows = build_heldout(lang, frames, looks)
        path = HERE / f"deid_heldout_{lang}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{path.name}: {len(rows)} sentences, {sum(len(r['spans']) for r in rows)} spans (held out)")


if __name__ == "__main__":
    main()
